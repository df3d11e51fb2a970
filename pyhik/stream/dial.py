"""Reach a device in a way that ``stop()`` can abort at once: the stream's dial (TCP, TLS).

urllib3 creates and connects its socket inside ``connect()`` and makes it known only
once connected, so a thread connecting to a device that is off (SYN sent, no answer)
cannot be stopped: it lingers for the whole connect timeout. Handing urllib3 a socket
of our own is not possible through its public API, so :func:`reach` makes the TCP
connection attempt first, on a socket the stream thread's hooks know from the start
(``stop()`` shuts it down), waiting in a poll loop that also watches for the stop;
the caller then closes it and lets urllib3 connect as usual. That costs one extra TCP
handshake per stream open, which a device that just answered one serves at once.

For https, the TLS handshake that follows is stoppable too: the stream transport's TLS
context reports the TLS socket before it (:mod:`pyhik.stream.transport`).

The DNS lookup (``getaddrinfo``) cannot be interrupted: for a host name whose lookup
hangs, the thread ends only when the resolver gives up (an IP address, the usual
device address, is not looked up at all). No socket of ours is open meanwhile.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import ssl
import time
from typing import Any, Callable, Optional, Tuple, Type

from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.util.ssl_ import create_urllib3_context, resolve_cert_reqs

__all__ = ["Registry", "Aborted", "Timeout", "reach", "tls_context"]

# How often the wait checks the stop flag, where shutting the socket down does not
# wake it (shutdown() of a connecting socket does on Linux).
_SLICE_S = 0.1
_IN_PROGRESS = {0, errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK,
                getattr(errno, "WSAEWOULDBLOCK", errno.EWOULDBLOCK)}

Registry = Callable[[Optional[socket.socket]], bool]
"""Keeps the socket being connected (None: none any more) where ``stop()`` shuts it
down; False once the stream is stopped."""


class Aborted(ConnectionAbortedError):
    """The stream was stopped while connecting."""


class Timeout(OSError):
    """No address of the host answered within the connect timeout."""


def reach(host: str, port: int, timeout: Optional[float], register: Registry,
          source_address: Optional[Tuple[str, int]] = None) -> None:
    """Make one TCP connection to ``host:port`` and close it, or raise.

    Each address of the host is tried in turn, each for ``timeout`` seconds (None: no
    limit), as urllib3 does. Raises :class:`Aborted` once ``register`` says the stream
    is stopped, :class:`Timeout` if the last address tried timed out, and the last
    address's OSError (``socket.gaierror`` for the lookup) otherwise.
    """
    if not register(None):
        raise Aborted("the alert stream was stopped")
    infos = socket.getaddrinfo(host.strip("[]"), port, 0, socket.SOCK_STREAM)
    error: Optional[OSError] = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if not register(sock):
                raise Aborted("the alert stream was stopped")
            if source_address:
                sock.bind(source_address)
            _connect(sock, address, timeout, register)
            return
        except Aborted:
            raise
        except OSError as err:
            error = err
        finally:
            register(None)  # under the stream's lock: stop() is done with it before close
            sock.close()
    raise error if error is not None else OSError(f"{host} has no address")


def _connect(sock: socket.socket, address: Any, timeout: Optional[float],
             register: Registry) -> None:
    sock.setblocking(False)
    code = sock.connect_ex(address)
    if code not in _IN_PROGRESS and code != errno.EISCONN:
        raise OSError(code, os.strerror(code))
    deadline = None if timeout is None else time.monotonic() + timeout
    while not _writable(sock, _SLICE_S if deadline is None
                        else min(_SLICE_S, deadline - time.monotonic())):
        if not register(sock):
            raise Aborted("the alert stream was stopped")
        if deadline is not None and time.monotonic() >= deadline:
            raise Timeout(errno.ETIMEDOUT, "timed out")
    if not register(sock):  # woken by stop()'s shutdown
        raise Aborted("the alert stream was stopped")
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, os.strerror(code))
    sock.getpeername()  # raises ENOTCONN if the attempt was undone


def _writable(sock: socket.socket, timeout: float) -> bool:
    timeout = max(0.0, timeout)
    if hasattr(select, "poll"):
        poll = select.poll()
        poll.register(sock, select.POLLOUT)
        return bool(poll.poll(timeout * 1000.0))
    _, writable, failed = select.select([], [sock], [sock], timeout)  # Windows: no poll
    return bool(writable or failed)


def tls_context(cert_reqs: Any, ca_certs: Optional[str], ca_cert_dir: Optional[str],
                ca_cert_data: Any, socket_class: Type[ssl.SSLSocket]) -> ssl.SSLContext:
    """A new context for one connection, as urllib3 makes one when none is given, whose
    sockets are ``socket_class`` (``sslsocket_class``, a public hook: the stream transport's
    reports itself before its handshake, so that ``stop()`` can shut it down).

    urllib3 still applies the connection's verify settings to it (the verify mode, the
    CA bundle or directory requests passed for ``verify``, the host name check). A given
    context, unlike its own, gets no default CAs from urllib3: when requests passes none
    while verifying (2.32.0-2.32.4 bring a context of their own for ``verify=True``
    instead), this one trusts what requests' context does, its default bundle."""
    mode = resolve_cert_reqs(cert_reqs)
    context = create_urllib3_context(cert_reqs=mode)
    if mode != ssl.CERT_NONE and not (ca_certs or ca_cert_dir or ca_cert_data):
        context.load_verify_locations(DEFAULT_CA_BUNDLE_PATH)
    context.sslsocket_class = socket_class
    return context
