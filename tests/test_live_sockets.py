"""The stream's sockets and threads: stop() in any phase leaves none behind, and the
transport reads bytes or wakes at a deadline through public API only."""

import io
import re
import selectors
import socket
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from conftest import fast_options

from pyhik.isapi.client import IsapiClient
from pyhik.stream import transport
from pyhik.stream.device import HikDevice
from pyhik.stream.recovery import Watchdog

PASSWORD = "S3cret!"
DIGEST_401 = (b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n"
              b'WWW-Authenticate: Digest realm="cam", nonce="n1", qop="auth"\r\n\r\n')


class SilentServer:
    """Accepts TCP connections and never answers (``login``: answers each connection's
    first request with a Digest challenge, then nothing). Counts connections still open."""

    def __init__(self, login: bool = False) -> None:
        self.login = login
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cond = threading.Condition()
        self.open = 0
        self.requests = 0
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.listener, selectors.EVENT_READ)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            for key, _ in self._sel.select(0.05):
                if key.fileobj is self.listener:
                    conn, _ = self.listener.accept()
                    self._sel.register(conn, selectors.EVENT_READ, data=[b"", False])
                    with self.cond:
                        self.open += 1
                        self.cond.notify_all()
                    continue
                conn, state = key.fileobj, key.data
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._sel.unregister(conn)
                    conn.close()
                    with self.cond:
                        self.open -= 1
                        self.cond.notify_all()
                    continue
                state[0] += data
                while b"\r\n\r\n" in state[0]:
                    _, state[0] = state[0].split(b"\r\n\r\n", 1)
                    with self.cond:
                        self.requests += 1
                        self.cond.notify_all()
                    if self.login and not state[1]:
                        state[1] = True
                        conn.sendall(DIGEST_401)

    def wait(self, predicate, timeout: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), timeout)

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()
        self._sel.close()


def pyhik_threads(port):
    return [t for t in threading.enumerate() if t.name == f"pyhik-127.0.0.1:{port}" and t.is_alive()]


@pytest.mark.parametrize("phase", ["waiting for headers", "logging in"])
def test_stop_while_connecting_leaves_no_thread_and_no_socket(phase):
    server = SilentServer(login=phase == "logging in")
    device = HikDevice("127.0.0.1", server.port, "admin", PASSWORD,
                       **fast_options(watchdog=Watchdog()))  # a 120 s read timeout, as live
    try:
        for cycle in range(1, 6):
            device.start()
            # The request that will never be answered has arrived (the second one when
            # logging in: the answer to the challenge).
            wanted = cycle * (2 if server.login else 1)
            assert server.wait(lambda s, wanted=wanted: s.requests >= wanted), "no request reached the server"
            start = time.monotonic()
            device.stop()
            assert time.monotonic() - start < 1.0
            assert pyhik_threads(server.port) == []
            assert server.wait(lambda s: s.open == 0, timeout=1.0), f"{server.open} open"
    finally:
        device.close()
        server.close()


def test_no_private_attribute_of_urllib3_or_http_client_is_used():
    root = Path(__file__).resolve().parent.parent / "pyhik"
    private = re.compile(r"\.(_fp|chunk_left|_connection|_sock|_original_response|_safe_read)\b")
    used = [f"{p.name}: {m.group(0)}" for p in root.rglob("*.py")
            for m in private.finditer(p.read_text())]
    assert used == []


class Hooks:
    """Records what the transport reports (a transport.StreamHooks)."""

    def __init__(self):
        self.sockets, self.bodies = [], []

    def connected(self, sock):
        self.sockets.append(sock)

    def opened(self, reader, body):
        self.bodies.append((reader, body))


def alert_body(channel):
    return (f'<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">'
            f"<channelID>{channel}</channelID><eventType>VMD</eventType>"
            f"<eventState>active</eventState></EventNotificationAlert>").encode()


@pytest.mark.parametrize("chunked", [True, False])
def test_transport_reads_the_body_or_wakes_at_the_deadline(emulators, chunked):
    emu = emulators("Front Porch", password=PASSWORD, chunked=chunked)
    client = IsapiClient(emu.url, emu.port, "admin", PASSWORD)
    transport.mount(client.session, [client.base_url + "/ISAPI/Event/notification/alertStream"])
    hooks = Hooks()
    with transport.serving(hooks):
        response = client.open_alert_stream(read_timeout=5)
    try:
        assert len(hooks.sockets) >= 1 and hooks.bodies
        reader, body = hooks.bodies[-1]
        read = transport.body_reader(response.headers, reader, body)
        reader.until(lambda: 0.05)
        assert read() is None  # nothing sent yet: the deadline came first
        assert emu.wait_for_streams(1)
        emu.push_parts([alert_body(1), alert_body(2)])
        data = b""
        while data.count(b"</EventNotificationAlert>") < 2:
            data += read() or b""
        assert b"--boundary" in data and b"\r\n0\r\n" not in data
    finally:
        response.close()
        client.close()


def test_socket_reader_returns_none_at_the_deadline_then_bytes_then_eof():
    a, b = socket.socketpair()
    try:
        reader = transport.SocketReader(a)
        body = io.BufferedReader(reader)
        read = transport.body_reader({}, reader, body)
        reader.until(lambda: 0.01)
        assert read() is None
        b.sendall(b"hello")
        assert read() == b"hello"
        b.shutdown(socket.SHUT_WR)
        assert read() == b""
    finally:
        a.close()
        b.close()


def test_body_reader_gives_the_bytes_that_came_with_the_headers_first():
    a, b = socket.socketpair()
    try:
        reader = transport.SocketReader(a)
        body = io.BufferedReader(reader)
        b.sendall(b"Header: 1\r\n\r\n<first/>")
        assert body.readline() == b"Header: 1\r\n" and body.readline() == b"\r\n"
        read = transport.body_reader({}, reader, body)
        reader.until(lambda: 0.01)
        assert read() == b"<first/>"  # held by the buffered file, not in the socket
        assert read() is None
        b.sendall(b"<second/>")
        assert read() == b"<second/>"
    finally:
        a.close()
        b.close()


def test_a_waiting_read_holds_no_read_buffer():
    """A thousand idle streams must not keep a thousand 64 KiB buffers while they wait."""
    a, b = socket.socketpair()
    held = []
    try:
        reader = transport.SocketReader(a)
        read = transport.body_reader({}, reader, io.BufferedReader(reader))

        def deadline():  # called on the reading thread while it is about to wait
            held.append(tracemalloc.get_traced_memory()[0] - before)
            return 0.0
        reader.until(deadline)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            assert read() is None
        finally:
            tracemalloc.stop()
        assert held and max(held) < transport.READ_SIZE // 4
    finally:
        a.close()
        b.close()


def test_reads_grow_while_bytes_keep_coming_and_shrink_when_quiet():
    a, b = socket.socketpair()
    try:
        reader = transport.SocketReader(a)
        read = transport.body_reader({}, reader, io.BufferedReader(reader))
        reader.until(lambda: 1.0)
        sender = threading.Thread(target=b.sendall, args=(b"x" * (8 * transport.READ_SIZE),))
        sender.start()
        sizes = []
        while sum(sizes) < 8 * transport.READ_SIZE:
            sizes.append(len(read() or b""))
        sender.join(5)
        assert sizes[0] == transport.QUIET_READ_SIZE and max(sizes) == transport.READ_SIZE
        b.sendall(b"<alert/>")
        assert read() == b"<alert/>"
        b.sendall(b"y" * transport.READ_SIZE)
        assert len(read()) == transport.QUIET_READ_SIZE  # quiet again: small reads first
    finally:
        a.close()
        b.close()


def test_body_reader_stops_at_content_length_and_refuses_an_encoding():
    a, b = socket.socketpair()
    try:
        reader = transport.SocketReader(a)
        body = io.BufferedReader(reader)
        b.sendall(b"12345678")
        read = transport.body_reader({"Content-Length": "5"}, reader, body)
        assert read() == b"12345" and read() == b""
        with pytest.raises(ValueError, match="gzip"):
            transport.body_reader({"Content-Encoding": "gzip"}, reader, body)
    finally:
        a.close()
        b.close()


def test_stream_adapter_asks_for_an_identity_body(emulators):
    seen = []
    emu = emulators("Front Porch", password=PASSWORD)
    client = IsapiClient(emu.url, emu.port, "admin", PASSWORD)
    adapter = transport.mount(client.session, [client.base_url + "/ISAPI/Event"])
    original = transport.HTTPAdapter.send

    def spy(self, request, *args, **kwargs):
        seen.append(request.headers.get("Accept-Encoding"))
        return original(self, request, *args, **kwargs)

    try:
        transport.HTTPAdapter.send = spy
        client.open_alert_stream(read_timeout=5).close()
    finally:
        transport.HTTPAdapter.send = original
        client.close()
    assert seen and set(seen) == {"identity"}
    assert isinstance(adapter, transport.StreamAdapter)
