"""A fake Hikvision camera or NVR: a real HTTP server on 127.0.0.1 with a scriptable alert stream.

It serves what the library reads (deviceInfo, triggers, channels, motion detection,
pictures and ``/ISAPI/Event/notification/alertStream``) behind Digest and/or Basic auth,
and is the test bed of the live-stream tests, soak tests, benchmarks and ``pyhik demo``::

    with EmulatedDevice("Front Porch") as cam:
        ...  # point a client at cam.url with admin / 12345
        cam.wait_for_streams(1)
        cam.push("VMD", "active")

It imports only the standard library and :mod:`pyhik.protocol.events`, nothing of the client side.
"""

from __future__ import annotations

from .device import EmulatedDevice
from .documents import TriggerSpec, default_triggers
from .stream import SentAlert

__all__ = ["EmulatedDevice", "SentAlert", "TriggerSpec", "default_triggers"]
