"""The live alert stream of a device: its thread, deadlines and recovery.

Job: ``watcher.AlertWatcher`` is the per-device thread (open the stream, read, feed the
framer, apply alerts to the sensor book, run its deadlines, dispatch changes, reconnect);
``recovery`` says when a silent stream is dead and how long to wait before the next try;
``device.HikDevice`` puts one device's ISAPI client, sensor book and watcher together.
``listeners`` holds the callback lists the thread calls and the gate each callback passes
(the faces' own listeners too, through ``AlertWatcher.call``); ``transport`` is its HTTP
transport (the socket ``stop()`` can shut down in any phase).

Rules:
- The only package that starts threads or reads the clock on the client side; every wait
  is bounded and ``stop()`` returns promptly even when the device is silent.
- May import: :mod:`pyhik.isapi`, :mod:`pyhik.state`, :mod:`pyhik.protocol`,
  :mod:`pyhik.errors`, requests, urllib3 (the transport reads its sockets) and the
  standard library. Nothing of the faces
  (``pyhik.sensors``, ``pyhik.hikvision``) or of ``pyhik.cli``.
"""

from .device import DeviceProfile, HikDevice

__all__ = ["HikDevice", "DeviceProfile"]
