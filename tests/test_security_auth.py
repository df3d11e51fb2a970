"""Non-ASCII credentials go out in UTF-8 (RFC 7617 for Basic; what Digest hashes anyway).

requests sends Basic credentials in Latin-1, so a device (or curl, or a browser, which all
use UTF-8) refuses ``pä``: one failed login per try, and Hikvision locks the client out
after a few. Digest hashed UTF-8 but sent the user name in Latin-1, or not at all when
it is outside Latin-1.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
from typing import Iterator, List, Optional

import pytest
from requests.utils import parse_dict_header

from pyhik.emulator import EmulatedDevice
from pyhik.hikvision import HikCamera
from pyhik.isapi.client import IsapiClient

CREDENTIALS = [("admin", "pä"), ("bénédicte", "pä"), ("用户", "密码€")]


@pytest.mark.parametrize("scheme", ["basic", "digest"])
@pytest.mark.parametrize("user,password", CREDENTIALS)
def test_non_ascii_credentials_log_in_to_the_emulator(emulators, scheme, user, password):
    cam = emulators(username=user, password=password, auth=scheme)
    with IsapiClient(cam.url, username=user, password=password, timeout=5) as client:
        assert client.device_info().name == cam.name
        assert client.auth is not None and client.auth.scheme == scheme
    assert cam.auth_failures == 0


def test_hikcamera_logs_in_with_a_non_ascii_password_on_a_basic_only_device(emulators):
    cam: EmulatedDevice = emulators(password="pä", auth="basic")
    hik = HikCamera("http://127.0.0.1", cam.port, "admin", "pä")
    assert hik.last_error is None and hik.name == cam.name
    assert cam.auth_failures == 0


class _Capture(http.server.BaseHTTPRequestHandler):
    """Challenges with ``challenge``, then answers 200 and records the raw header bytes."""

    protocol_version = "HTTP/1.1"
    challenge = ""
    seen: List[Optional[bytes]] = []

    def do_GET(self) -> None:
        header = self.headers.get("Authorization")
        # http.server decoded the header as Latin-1: encoding it back gives the wire bytes
        self.seen.append(header.encode("latin-1") if header is not None else None)
        if header is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", self.challenge)
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def capture() -> Iterator:
    servers = []

    def start(challenge: str):  # type: ignore[no-untyped-def]
        handler = type("Handler", (_Capture,), {"challenge": challenge, "seen": []})
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((httpd, thread))
        return httpd.server_address[1], handler.seen

    yield start
    for httpd, thread in servers:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _answered(port: int, user: str, password: str) -> None:
    """One request that the server challenges and the client answers."""
    with IsapiClient("127.0.0.1", port, user, password, timeout=5) as client:
        client.request("GET", "/x").close()


@pytest.mark.parametrize("user,password", CREDENTIALS)
def test_basic_sends_utf8_on_the_wire(capture, user, password):
    port, seen = capture('Basic realm="cam"')
    _answered(port, user, password)
    assert seen[0] is None and seen[1] is not None
    scheme, _, token = seen[1].partition(b" ")
    assert scheme == b"Basic"
    assert base64.b64decode(token) == f"{user}:{password}".encode("utf-8")


@pytest.mark.parametrize("user,password", CREDENTIALS)
def test_digest_sends_the_user_name_in_utf8_and_hashes_utf8(capture, user, password):
    port, seen = capture('Digest realm="cam", nonce="abc", qop="auth"')
    _answered(port, user, password)
    assert seen[0] is None and seen[1] is not None
    scheme, _, rest = seen[1].decode("utf-8").partition(" ")
    params = parse_dict_header(rest)
    assert scheme == "Digest" and params["username"] == user

    def md5(text: str) -> str:
        return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - the protocol's

    ha1, ha2 = md5(f"{user}:cam:{password}"), md5(f"GET:{params['uri']}")
    expected = md5(f"{ha1}:abc:{params['nc']}:{params['cnonce']}:auth:{ha2}")
    assert params["response"] == expected
