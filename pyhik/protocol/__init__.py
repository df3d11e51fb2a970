"""The alert stream's protocol, without I/O: bytes in, parts and alerts out.

Job: frame a ``multipart/mixed`` alert stream into parts (``multipart``, with
``partheaders``, ``docscan`` and ``chunked``), turn a part's body into a typed ``Alert``
(``alerts``, ``alerts_json``, ``templates``), and name the event types (``events``).

Rules:
- Sans-IO: nothing here opens a socket, starts a thread, sleeps or reads a clock. Every
  function is fed bytes (in any split) and returns what it found, so all of it is
  testable by feeding bytes and property tests.
- May import: the standard library, ``defusedxml``, and modules of this package.
  Nothing else of pyhik, and none of requests, urllib3, socket, threading, time
  (import-linter contracts in setup.cfg enforce this).
- The input comes from a network peer: memory and work stay bounded per byte fed.
"""

from .alerts import Alert, parse_alert
from .events import EventType
from .multipart import MultipartFramer, Part
from .templates import AlertParser

__all__ = ["Alert", "AlertParser", "EventType", "MultipartFramer", "Part", "parse_alert"]
