"""The live alert stream of a device: its thread, deadlines and recovery.

Job: ``watcher.AlertWatcher`` is the per-device thread (open the stream, read, feed the
framer, apply alerts to the sensor book, run its deadlines, dispatch changes, reconnect);
``recovery`` says when a silent stream is dead and how long to wait before the next try;
``device.HikDevice`` puts one device's ISAPI client, sensor book and watcher together.
The other modules are the thread's helpers (its HTTP transport, its timers).

Rules:
- The only package that starts threads or reads the clock on the client side; every wait
  is bounded and ``stop()`` returns promptly even when the device is silent.
- May import: :mod:`pyhik.isapi`, :mod:`pyhik.state`, :mod:`pyhik.protocol`,
  :mod:`pyhik.errors`, requests and the standard library. Nothing of the faces
  (``pyhik.sensors``, ``pyhik.hikvision``) or of ``pyhik.cli``.
"""

from .device import HikDevice

__all__ = ["HikDevice"]
