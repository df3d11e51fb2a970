"""The alert stream's HTTP transport: a requests adapter that hands the stream thread its socket.

The stream thread needs the socket of its connection for two things: to shut it down from
the thread that calls ``stop()`` (so that ``stop()`` is prompt whether the thread is
logging in, waiting for headers or reading the body), and to wait for the next byte *or*
the next deadline of its sensor book, whichever comes first, without a socket timeout
(after one, Python refuses to read that socket again). It gets it through public
extension points only, the same under urllib3 1.26 and 2.x:

* :class:`StreamAdapter` (a ``requests`` transport adapter) is mounted on the session for
  the alert stream's URLs; its pool manager's ``pool_classes_by_scheme`` give pools whose
  ``ConnectionCls`` reports ``self.sock`` after ``connect()`` (and, before it, reaches the
  device on a socket of its own that ``stop()`` can shut down: :mod:`pyhik.stream.dial`);
* an HTTPS connection gets an ``ssl_context`` made as urllib3 makes one, whose
  ``sslsocket_class`` reports the TLS socket before its handshake, so that ``stop()`` can
  shut it down while a device that took the TCP connection never answers the TLS hello;
* those connections' ``response_class`` (http.client builds each response with
  ``response_class(sock, method=...)``, a hook urllib3 documents) gives http.client a
  buffered file over a :class:`SocketReader`, which the stream thread then reads itself.

Reports go to the :class:`StreamHooks` the calling thread serves (:func:`serving`):
requests and urllib3 are synchronous, so the thread that opens the stream is the one
whose connection this is. A thread serving no hooks gets plain behaviour.
"""

from __future__ import annotations

import http.client
import io
import select
import socket
import ssl
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Protocol, TypeVar

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError

from pyhik.protocol.chunked import ChunkedDecoder

from . import dial

__all__ = ["StreamHooks", "SocketReader", "StreamAdapter", "serving", "mount", "shutdown",
           "body_reader", "READ_SIZE", "QUIET_READ_SIZE"]

READ_SIZE = 65536
"""The most one read of the body takes (while alerts come faster than they are read)."""
QUIET_READ_SIZE = 4096
"""A read's size while the stream is quiet: an alert is about 1 KiB, and every read makes
a buffer this large before the socket says how much it has (a thousand quiet streams
making 64 KiB ones spread the allocator's arenas). A read that fills it doubles it, up
to READ_SIZE; one that takes less than this goes back to it."""
HEADER_BUFFER_SIZE = 2048
"""http.client's buffered file reads only the status line and the headers: the body is
read from the socket itself (and its file keeps its buffer for the stream's life)."""


class StreamHooks(Protocol):
    """What the stream thread learns of its connections (called on that thread)."""

    def connecting(self, sock: Optional[socket.socket]) -> bool:
        """A TCP connection attempt runs on ``sock`` (None: none runs any more); keep it
        where ``stop()`` shuts it down. False once stopped: the attempt is abandoned."""

    def connected(self, sock: socket.socket) -> None:
        """A connection is up; raising (an OSError) aborts the request."""

    def opened(self, reader: "SocketReader", body: io.BufferedReader) -> None:
        """A response's headers are about to be read from ``body``."""


_local = threading.local()
_T = TypeVar("_T")
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


@contextmanager
def serving(hooks: StreamHooks) -> Iterator[None]:
    """Report this thread's stream connections to ``hooks`` while the block runs."""
    _local.hooks = hooks
    try:
        yield
    finally:
        _local.hooks = None


def _hooks() -> Optional[StreamHooks]:
    return getattr(_local, "hooks", None)


def shutdown(sock: Any) -> None:
    """Shut a socket down (both ways) so that a read blocked on it returns at once."""
    try:
        if isinstance(sock, ssl.SSLSocket):  # its TCP connection only: SSLSocket.shutdown()
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # drops the TLS state another
        else:                                               # thread may be about to use
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):  # not connected, or already closed
        pass


class SocketReader(io.RawIOBase):
    """Raw reads from a socket. Until :meth:`until` (status line, headers) reads block as
    usual, bounded by the socket's timeout. After it (the body), a read waits for bytes
    at most ``wait_s()`` seconds (None: no limit) and then returns None with ``idle``
    set: the caller's deadline came first."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        # A SocketIO holds a reference on the socket, so that http.client may close the
        # socket object once the response owns it (as it does for close-delimited bodies).
        self._raw = sock.makefile("rb", buffering=0)
        self.wait_s: Optional[Callable[[], Optional[float]]] = None
        self.idle = False
        self._hold = False  # take_buffered(): the socket is not to be read
        self._pending = getattr(sock, "pending", None)
        self._poll: Any = None
        if hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN | select.POLLPRI)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> Optional[int]:
        if self._hold:
            return None
        if self.wait_s is None:
            return self._raw.readinto(buffer)
        return self._when_ready(lambda: self.sock.recv_into(buffer))

    def recv(self, size: int) -> Optional[bytes]:
        """The socket's next bytes (up to ``size``; ``b""`` at its end), None (with ``idle``
        set) when the deadline came first. The buffer is made only once bytes are in, so
        a thread waiting here holds no memory for them (a thousand idle streams would
        otherwise keep a thousand read buffers)."""
        if self.wait_s is None:
            return self.sock.recv(size)
        return self._when_ready(lambda: self.sock.recv(size))

    def _when_ready(self, read: Callable[[], _T]) -> Optional[_T]:
        """``read()`` once bytes are in; None (with ``idle`` set) when the deadline of
        ``wait_s`` came first."""
        wait_s = self.wait_s
        assert wait_s is not None
        while True:  # the deadline is worked out only when no byte is in already
            if self._ready(0.0) or self._ready(wait_s()):
                try:
                    return read()
                except _WOULD_BLOCK:  # TLS: a record not complete yet
                    continue
            self.idle = True
            return None

    def take_buffered(self, body: io.BufferedReader) -> bytes:
        """The bytes ``body`` (a buffered file over this reader) holds already, without
        reading the socket: what came in with the response's headers."""
        self._hold = True
        try:
            chunks: List[bytes] = []
            while True:
                chunk = body.read1(READ_SIZE)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        finally:
            self._hold = False

    def until(self, wait_s: Callable[[], Optional[float]]) -> None:
        """Enter the body phase: from now on a read waits at most ``wait_s()`` seconds."""
        self.sock.settimeout(0.0)  # reads follow a poll; a TLS record may still be partial
        self.wait_s = wait_s

    def _ready(self, timeout: Optional[float]) -> bool:
        if self._pending is not None and self._pending():  # TLS: decrypted, not yet read
            return True
        if timeout is not None and timeout < 0:
            timeout = 0.0
        if self._poll is None:  # Windows has no poll
            return bool(select.select([self.sock], [], [], timeout)[0])
        return bool(self._poll.poll(None if timeout is None else timeout * 1000.0))

    def close(self) -> None:
        self._raw.close()
        super().close()


class _FileMaker:
    """What http.client's response takes for a socket: it only calls ``makefile("rb")``."""

    def __init__(self, reader: SocketReader) -> None:
        self.reader = reader
        self.file: Optional[io.BufferedReader] = None

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self.file = io.BufferedReader(self.reader, HEADER_BUFFER_SIZE)
        return self.file


class _ReportingConnection:
    """Mixin for urllib3's connections: report the socket and read through a SocketReader."""

    sock: Any

    def connect(self) -> None:
        hooks = _hooks()
        if hooks is not None:
            _dial(self, hooks)
        super().connect()  # type: ignore[misc]
        if hooks is not None:
            hooks.connected(self.sock)

    def response_class(self, sock: Any, *args: Any, **kwargs: Any) -> http.client.HTTPResponse:
        hooks = _hooks()
        if hooks is None:
            return http.client.HTTPResponse(sock, *args, **kwargs)
        maker = _FileMaker(SocketReader(sock))
        response = http.client.HTTPResponse(maker, *args, **kwargs)  # type: ignore[arg-type]
        assert maker.file is not None
        hooks.opened(maker.reader, maker.file)
        return response


def _dial(conn: Any, hooks: StreamHooks) -> None:
    """Reach the device first on a socket ``stop()`` can shut down (see
    :mod:`pyhik.stream.dial`), so that a device that does not answer the SYN does not hold
    the thread for the connect timeout. That socket is closed again: urllib3 connects its
    own (one extra TCP handshake per stream open), which now comes at once."""
    timeout = conn.timeout if isinstance(conn.timeout, (int, float)) else socket.getdefaulttimeout()
    try:
        dial.reach(conn.host, conn.port, timeout, hooks.connecting,
                   getattr(conn, "source_address", None))
    except dial.Timeout as err:  # urllib3's words and type: requests makes it a ConnectTimeout
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out. "
                                        f"(connect timeout={timeout})") from err
    except dial.Aborted:
        raise
    except OSError:  # refused, unreachable, unknown host: urllib3's own attempt fails the
        pass         # same way at once and reports it in its usual terms


class _StreamHTTPConnection(_ReportingConnection, HTTPConnection):  # type: ignore[misc]
    pass


class _StreamHTTPSConnection(_ReportingConnection, HTTPSConnection):  # type: ignore[misc]
    def connect(self) -> None:
        if _hooks() is not None:
            self.ssl_context = dial.tls_context(self.cert_reqs, self.ca_certs, self.ca_cert_dir,
                                                getattr(self, "ca_cert_data", None),
                                                _ReportingTLSSocket)
        super().connect()


class _ReportingTLSSocket(ssl.SSLSocket):
    """A TLS socket that reports itself to the thread's hooks during its handshake."""

    def do_handshake(self, *args: Any, **kwargs: Any) -> None:
        hooks = _hooks()
        if hooks is None:
            super().do_handshake(*args, **kwargs)
            return
        try:
            if not hooks.connecting(self):
                raise dial.Aborted("the alert stream was stopped")
            super().do_handshake(*args, **kwargs)
        finally:
            hooks.connecting(None)  # under the stream's lock: stop() is done with it before close


class _StreamHTTPPool(HTTPConnectionPool):
    ConnectionCls = _StreamHTTPConnection


class _StreamHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _StreamHTTPSConnection


_POOLS = {"http": _StreamHTTPPool, "https": _StreamHTTPSPool}


class StreamAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections report to the calling thread's StreamHooks.

    It asks for an identity body (``Accept-Encoding: identity``): the stream thread
    reads the bytes on the wire itself. A SOCKS proxy keeps its own connection classes,
    so a stream through one cannot be read by pyhik.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        request.headers["Accept-Encoding"] = "identity"
        return super().send(request, *args, **kwargs)


def mount(session: requests.Session, urls: Iterable[str]) -> StreamAdapter:
    """Mount one StreamAdapter on ``session`` for each URL prefix (keeps its retry policy)."""
    urls = list(urls)
    adapter = StreamAdapter()
    current = session.get_adapter(urls[0]) if urls else None
    if isinstance(current, HTTPAdapter):
        adapter.max_retries = current.max_retries
    for url in urls:
        session.mount(url, adapter)
    return adapter


def body_reader(headers: Mapping[str, str], reader: SocketReader, body: io.BufferedReader
                ) -> Callable[[], Optional[bytes]]:
    """A function returning the body's next bytes as soon as any are in: ``b""`` at its
    end, None when ``reader``'s deadline came first.

    The bytes http.client's buffered file already holds (those that came with the
    headers) come first; after them the body is read from the socket itself
    (:meth:`SocketReader.recv`: one call per read, no buffer held while waiting), and
    de-chunked here many HTTP chunks per read (through http.client it costs several calls
    per chunk, and devices send a chunk per alert), or bounded by Content-Length, or read
    to the close. A Content-Encoding raises ValueError: it was not asked for
    (StreamAdapter asks for identity) and no device uses one.
    """
    encoding = headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise ValueError(f"the alert stream came with Content-Encoding {encoding!r}")
    held = reader.take_buffered(body)
    recv = reader.recv
    size = QUIET_READ_SIZE

    def read1(limit: int) -> Optional[bytes]:
        nonlocal held, size
        if held:
            first, held = held[:limit], held[limit:]
            return first
        data = recv(min(size, limit))
        if data:
            if len(data) >= size:
                size = min(2 * size, READ_SIZE)
            elif len(data) < QUIET_READ_SIZE:
                size = QUIET_READ_SIZE
        return data

    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        decoder = ChunkedDecoder()

        def read_chunked() -> Optional[bytes]:
            while not decoder.done:
                data = read1(READ_SIZE)
                if not data:
                    return data
                payload = decoder.feed(data)
                if payload:
                    return payload
            return b""
        return read_chunked
    try:
        left = int(headers.get("Content-Length", ""))
    except ValueError:
        return lambda: read1(READ_SIZE)

    def read_length() -> Optional[bytes]:
        nonlocal left
        if left <= 0:
            return b""
        data = read1(min(READ_SIZE, left))
        if data:
            left -= len(data)
        return data
    return read_length
