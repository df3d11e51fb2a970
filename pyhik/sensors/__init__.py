"""Home Assistant style binary sensors: the face most users want.

Job: ``entities.DeviceSensors`` turns one device into the binary sensors the Home
Assistant docs describe (names, entity ids, unique ids, device classes, ``customize``
``delay`` / ``ignored``); ``config`` validates a device's configuration as those docs
write it; ``yamlfile`` loads Home Assistant style YAML (``!secret``, ``!include``).

Rules:
- A face: it asks the device layer (:mod:`pyhik.stream`) for what it needs and builds its
  sensors from that; it parses no bytes and opens no connection itself.
- May import: every library layer below (:mod:`pyhik.stream`, :mod:`pyhik.isapi`,
  :mod:`pyhik.state`, :mod:`pyhik.protocol`, :mod:`pyhik.errors`). Nothing of
  :mod:`pyhik.cli`.
"""

from .entities import DeviceSensors

__all__ = ["DeviceSensors"]
