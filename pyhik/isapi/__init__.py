"""One device's ISAPI over HTTP: session, auth, endpoints, typed models.

Job: ``client.IsapiClient`` is the device's HTTP session (base URL, TLS, auth that
answers the device's challenge) and its endpoints; ``models`` turns ISAPI documents into
typed models; ``http`` holds the HTTP plumbing (auth negotiation, host parsing,
translation of requests' errors into :mod:`pyhik.errors`).

Rules:
- Requests and answers only: no thread, no stream reading loop, no sensor state.
- May import: requests, the standard library, :mod:`pyhik.errors`, :mod:`pyhik.protocol`.
  Nothing of ``pyhik.state``, ``pyhik.stream`` or the faces above.
"""

from .client import IsapiClient

__all__ = ["IsapiClient"]
