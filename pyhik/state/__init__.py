"""Sensor state, without I/O: alerts and clock values in, sensor changes out.

Job: ``book.SensorBook`` keeps every sensor of one device on or off: ``apply(alert, now)``
and ``expire(now)`` return the changes; ``next_deadline()`` says when to call again.
Active-only events, heartbeats, video loss and the customize ``delay`` hold live here.

Rules:
- Pure: the time is always a parameter; nothing here reads a clock, sleeps, starts a
  thread or touches the network.
- May import: the standard library and :mod:`pyhik.protocol`. Nothing above it, and
  none of requests, urllib3, socket, threading, time (import-linter contracts).
"""

from .book import Change, SensorBook, SensorKey, SensorState

__all__ = ["Change", "SensorBook", "SensorKey", "SensorState"]
