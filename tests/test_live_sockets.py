"""The stream's sockets and threads: stop() in any phase leaves none behind, and the
transport reads bytes or wakes at a deadline through public API only."""

import io
import os
import re
import selectors
import socket
import ssl
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import fast_options
from test_security_tls import pki, serve  # noqa: F401 - fixtures: a test CA, TLS servers

from pyhik.errors import DeviceError, DeviceUnreachableError, UnsupportedDeviceError
from pyhik.isapi.client import IsapiClient
from pyhik.stream import transport
from pyhik.stream.device import HikDevice
from pyhik.stream.recovery import Watchdog

PASSWORD = "S3cret!"
DIGEST_401 = (b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n"
              b'WWW-Authenticate: Digest realm="cam", nonce="n1", qop="auth"\r\n\r\n')


class SilentServer:
    """Accepts TCP connections and never answers (``login``: answers each connection's
    first request with a Digest challenge, then nothing). Counts connections still open,
    connections that sent something (``heard``: a TLS client's hello, say) and requests."""

    def __init__(self, login: bool = False) -> None:
        self.login = login
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cond = threading.Condition()
        self.open = 0
        self.heard = 0
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
                    self._sel.register(conn, selectors.EVENT_READ, data=[b"", False, False])
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
                if not state[2]:
                    state[2] = True
                    with self.cond:
                        self.heard += 1
                        self.cond.notify_all()
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


class Blackhole:
    """A loopback port that leaves a SYN unanswered, as a device that is off does: its
    listen backlog is full (listen(0), filled with connections never accepted), and Linux
    drops a SYN to a listener whose accept queue is full."""

    def __init__(self, family: int) -> None:
        host = "127.0.0.1" if family == socket.AF_INET else "::1"
        self.family = family
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.listener.bind((host, 0))
        except OSError:
            self.listener.close()
            pytest.skip(f"no {host} here")
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.queued = []
        for _ in range(16):  # Linux queues backlog + 1 connections
            probe = socket.socket(family, socket.SOCK_STREAM)
            probe.settimeout(0.3)
            try:
                probe.connect((host, self.port))
            except OSError:  # timed out: the queue is full, SYNs are dropped from now on
                probe.close()
                return
            self.queued.append(probe)
        self.close()
        pytest.skip("this kernel answers SYNs beyond the listen backlog")

    def connecting(self):
        """Inodes of this process's sockets with a SYN out to this port."""
        return peer_sockets(self.port, state="02")  # 02: SYN_SENT

    def close(self) -> None:
        for sock in self.queued:
            sock.close()
        self.listener.close()


def peer_sockets(port, state=None):
    """Inodes of this process's open TCP sockets whose peer's port is ``port`` (and whose
    /proc/net/tcp state is ``state``, if given). Counting only these, a socket opened
    meanwhile by a thread some earlier test left behind does not count."""
    found = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and state in (None, fields[3]):
                found.add(fields[9])
    return found & open_sockets()


def open_sockets():
    """Inodes of this process's open sockets."""
    found = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:["):-1])
    return found


def wait_until(predicate, timeout=5.0):
    """Poll a kernel table (no event to wait on) until ``predicate()``, bounded."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.005)
    return True


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_stop_while_the_tcp_connect_gets_no_answer_leaves_no_thread_and_no_socket(family, scheme):
    hole = Blackhole(family)
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    device = HikDevice(host, hole.port, "admin", PASSWORD, ssl=scheme == "https",
                       verify_ssl=False, **fast_options())  # a 10 s connect timeout, as live
    try:
        for cycle in range(1, 6):
            before = peer_sockets(hole.port)  # the queued connections that fill the backlog
            device.start()
            assert wait_until(lambda: hole.connecting() & open_sockets()), \
                f"cycle {cycle}: no SYN went out"
            syn = hole.connecting() & open_sockets()
            start = time.monotonic()
            device.stop()
            assert time.monotonic() - start < 1.0
            assert [t.name for t in threading.enumerate()
                    if t.name == f"pyhik-{host}:{hole.port}" and t.is_alive()] == []
            assert syn & open_sockets() == set(), f"cycle {cycle}: the connecting socket is open"
            assert peer_sockets(hole.port) - before == set(), f"cycle {cycle}: a socket is open"
    finally:
        device.close()
        hole.close()


def stop_cycles(device: Any, server: Any, cycles: int, reached: Callable[[Any, int], bool],
                what: str) -> None:
    """Start ``device``, wait until ``reached(server, cycle)``, stop it: each time, stop()
    returns within 1 s and leaves no thread, no client socket and no server connection.
    Closes both at the end."""
    try:
        for cycle in range(1, cycles + 1):
            device.start()
            assert server.wait(lambda s, cycle=cycle: reached(s, cycle)), f"cycle {cycle}: {what}"
            start = time.monotonic()
            device.stop()
            assert time.monotonic() - start < 1.0
            assert pyhik_threads(server.port) == []
            assert peer_sockets(server.port) == set(), f"cycle {cycle}: a socket is open"
            assert server.wait(lambda s: s.open == 0, timeout=1.0), f"{server.open} open"
    finally:
        device.close()
        server.close()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc")
def test_stop_during_the_tls_handshake_leaves_no_thread_and_no_socket():
    server = SilentServer()  # takes the TCP connection, never answers the TLS client hello
    device = HikDevice("127.0.0.1", server.port, "admin", PASSWORD, ssl=True,
                       verify_ssl=False, **fast_options())  # a 10 s connect timeout, as live
    stop_cycles(device, server, 5, lambda s, cycle: s.heard >= cycle, "no TLS client hello")


class TlsStreamServer:
    """Completes each TLS handshake, answers the first request with the headers of an
    alert stream and then sends nothing. Counts streams begun and connections open."""

    HEADERS = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Type: multipart/mixed; boundary=boundary\r\n\r\n")

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cond = threading.Condition()
        self.open = self.streams = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _count(self, name: str, step: int) -> None:
        with self.cond:
            setattr(self, name, getattr(self, name) + step)
            self.cond.notify_all()

    def _serve(self, conn: socket.socket) -> None:
        self._count("open", 1)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += tls.recv(65536) or b"\r\n\r\n"
                tls.sendall(self.HEADERS)
                self._count("streams", 1)
                while tls.recv(65536):
                    pass
        except OSError:  # the client went away: that is what the test waits for
            pass
        finally:
            conn.close()
            self._count("open", -1)

    def wait(self, predicate, timeout: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), timeout)

    def close(self) -> None:
        self.listener.close()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc")
def test_stop_while_streaming_over_tls_leaves_no_thread_and_no_socket(pki):  # noqa: F811
    server = TlsStreamServer(pki.good)
    device = HikDevice("127.0.0.1", server.port, "admin", PASSWORD, ssl=True,
                       verify_ssl=str(pki.ca), **fast_options(watchdog=Watchdog()))
    stop_cycles(device, server, 3, lambda s, cycle: s.streams >= cycle, "the stream did not open")


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc")
def test_a_connect_that_gets_no_answer_still_times_out_as_a_connect_timeout():
    hole = Blackhole(socket.AF_INET)
    client = IsapiClient("127.0.0.1", hole.port, "admin", PASSWORD, timeout=0.2)
    transport.mount(client.session, [client.base_url + "/ISAPI/Event/notification/alertStream"])
    hooks = Hooks()
    try:
        with transport.serving(hooks), pytest.raises(DeviceUnreachableError,
                                                     match="no connection within 0.2 s"):
            client.open_alert_stream(read_timeout=5)
        assert hooks.attempts and all(sock.fileno() == -1 for sock in hooks.attempts)
        assert hooks.sockets == []
    finally:
        client.close()
        hole.close()


def test_a_refused_connect_fails_as_without_the_stream_transport():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again: nothing listens there
    client = IsapiClient("127.0.0.1", port, "admin", PASSWORD)
    errors = []
    try:
        with pytest.raises(DeviceUnreachableError) as plain:
            client.open_alert_stream(read_timeout=5)
        transport.mount(client.session, [client.base_url + "/ISAPI/Event/notification/alertStream"])
        hooks = Hooks()
        with transport.serving(hooks), pytest.raises(DeviceUnreachableError) as streamed:
            client.open_alert_stream(read_timeout=5)
        errors = [str(plain.value), str(streamed.value)]
        assert hooks.attempts and all(sock.fileno() == -1 for sock in hooks.attempts)
    finally:
        client.close()
    assert "refused" in errors[0].lower() and errors[1] == errors[0]


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("server, verify, outcome", [
    ("good", "ca", None),
    ("good", True, "the certificate is not trusted"),
    ("good", "other_ca", "not trusted by the CA bundle"),
    ("wrong_name", "ca", "not valid for this host name or address"),
    ("wrong_name", False, None),
    ("plain", True, "this port speaks plain HTTP"),
])
def test_the_stream_verifies_tls_as_every_other_request(pki, serve, monkeypatch,  # noqa: F811
                                                        server, verify, outcome):
    # requests lets this variable override a request's verify; pyhik's setting must win
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.other_ca if verify else pki.ca))
    port = serve(None if server == "plain" else getattr(pki, server))
    verify = str(getattr(pki, verify)) if isinstance(verify, str) else verify
    client = IsapiClient("https://127.0.0.1", port, "admin", PASSWORD, verify_ssl=verify,
                         timeout=5)
    transport.mount(client.session, [client.base_url + "/ISAPI/Event/notification/alertStream",
                                     client.base_url + "/Event/notification/alertStream"])
    hooks = Hooks()
    try:
        with transport.serving(hooks), pytest.raises(DeviceError) as caught:
            client.open_alert_stream(read_timeout=5)
    finally:
        client.close()
    if outcome is None:  # the handshake went through and was reported to the hooks
        assert isinstance(caught.value, UnsupportedDeviceError), str(caught.value)
        assert any(isinstance(sock, ssl.SSLSocket) for sock in hooks.attempts)
        assert hooks.sockets and all(isinstance(s, ssl.SSLSocket) for s in hooks.sockets)
    else:
        assert outcome in str(caught.value)
        assert hooks.sockets == []


def test_no_private_attribute_of_urllib3_or_http_client_is_used():
    root = Path(__file__).resolve().parent.parent / "pyhik"
    private = re.compile(r"\.(_fp|chunk_left|_connection|_sock|_original_response|_safe_read"
                         r"|_sslobj|_new_conn|_prepare_conn|_get_conn|_preloaded_ssl_context)\b")
    used = [f"{p.name}: {m.group(0)}" for p in root.rglob("*.py")
            for m in private.finditer(p.read_text())]
    assert used == []


class Hooks:
    """Records what the transport reports (a transport.StreamHooks)."""

    def __init__(self):
        self.sockets, self.bodies, self.attempts = [], [], []

    def connecting(self, sock):
        if sock is not None and sock not in self.attempts:
            self.attempts.append(sock)
        return True

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
