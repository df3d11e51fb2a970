"""A device that redirects never gets pyhik to send anything, credentials least of all, elsewhere.

Two real servers on 127.0.0.1: the "device" challenges for a login and, once answered,
redirects every request to the "other" host, which records every Authorization header it
sees and challenges as a device would. ISAPI does not redirect, so pyhik must follow no
redirect: the other host sees no request at all and the caller gets a RedirectError that
names the Location.
"""

from __future__ import annotations

import http.server
import threading
from typing import Iterator, List, Optional, Tuple

import pytest
import requests

from pyhik.errors import DeviceError, RedirectError
from pyhik.hikvision import HikCamera
from pyhik.isapi.client import IsapiClient

USER, PASSWORD = "admin", "secret"


class _Server:
    """A threading HTTP server on 127.0.0.1 answering through ``answer(handler)``."""

    def __init__(self, answer) -> None:  # type: ignore[no-untyped-def]
        outer = self
        self.answer = answer
        self.seen: List[Tuple[str, str, Optional[str]]] = []
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with outer.lock:
                    outer.seen.append((self.command, self.path,
                                       self.headers.get("Authorization")))
                status, headers = outer.answer(self)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_POST = _any

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def _challenge(scheme: str, realm: str) -> Tuple[str, str]:
    if scheme == "basic":
        return ("WWW-Authenticate", f'Basic realm="{realm}"')
    return ("WWW-Authenticate", f'Digest realm="{realm}", nonce="n-{realm}", qop="auth"')


@pytest.fixture(params=["digest", "basic"])
def pair(request) -> Iterator[Tuple[_Server, _Server, str]]:  # type: ignore[no-untyped-def]
    """(device, other, scheme): the device redirects to other once it got credentials."""
    scheme = request.param

    def other_answer(handler):  # type: ignore[no-untyped-def]
        if not handler.headers.get("Authorization"):
            return 401, [_challenge(scheme, "other")]
        return 200, []

    other = _Server(other_answer)

    def device_answer(handler):  # type: ignore[no-untyped-def]
        if not handler.headers.get("Authorization"):
            return 401, [_challenge(scheme, "cam")]
        return 302, [("Location", f"http://localhost:{other.port}{handler.path}")]

    device = _Server(device_answer)
    yield device, other, scheme
    device.close()
    other.close()


def _assert_nothing_reached(other: _Server) -> None:
    with other.lock:
        leaked = [auth for _, _, auth in other.seen if auth]
        assert not leaked, f"credentials sent to the redirect target: {leaked}"
        assert other.seen == [], "pyhik followed a redirect"


def test_hikcamera_construction_sends_no_credentials_to_the_redirect_target(pair):
    device, other, _ = pair
    cam = HikCamera("http://127.0.0.1", device.port, USER, PASSWORD)
    _assert_nothing_reached(other)
    assert device.seen, "the device was never asked"
    assert isinstance(cam.last_error, RedirectError)
    assert f"localhost:{other.port}/ISAPI/System/deviceInfo" in str(cam.last_error)
    assert cam.name is None  # construction failed cleanly, as for any refused device


@pytest.mark.parametrize("call", ["snapshot", "alert_stream", "set_motion_detection",
                                  "auth_schemes", "triggers", "video_channels"])
def test_every_request_path_refuses_the_redirect(pair, call):
    device, other, _ = pair
    with IsapiClient("127.0.0.1", device.port, USER, PASSWORD, timeout=5) as client:
        with pytest.raises(RedirectError) as caught:
            if call == "snapshot":
                client.snapshot(1)
            elif call == "alert_stream":
                client.open_alert_stream(read_timeout=5).close()
            elif call == "set_motion_detection":
                client.set_motion_detection(False)
            elif call == "auth_schemes":
                # check's probe: no credentials, so the device redirects at once here
                device_redirects_at_once(device, other)
                client.auth_schemes()
            elif call == "triggers":
                client.triggers()
            else:
                client.video_channels()
    error = caught.value
    assert isinstance(error, DeviceError) and isinstance(error, requests.RequestException)
    assert error.location and error.location.startswith(f"http://localhost:{other.port}/")
    assert error.location in str(error)
    assert f"HTTP {error.response.status_code}" in str(error)
    _assert_nothing_reached(other)


def device_redirects_at_once(device: _Server, other: _Server) -> None:
    """Make ``device`` redirect even requests without credentials."""
    device.answer = lambda handler: (
        301, [("Location", f"http://localhost:{other.port}{handler.path}")])


def test_the_session_itself_follows_no_redirect(pair):
    """Even a caller using the client's session directly is not redirected."""
    device, other, _ = pair
    device_redirects_at_once(device, other)
    with IsapiClient("127.0.0.1", device.port, USER, PASSWORD, timeout=5) as client:
        response = client.session.get(client.base_url + "/ISAPI/System/deviceInfo",
                                      timeout=5)
        assert response.status_code == 301
        response.close()
    _assert_nothing_reached(other)
