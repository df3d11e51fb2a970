"""TLS against real local servers: a CA bundle path verifies a self-signed device, and every
TLS failure names its real cause (plain HTTP on the port, untrusted certificate, host name).

The test CA and server certificates are made here with the ``openssl`` command (the
``cryptography`` package is not a dependency); without openssl the tests are skipped.
"""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Callable, Iterator, List, NamedTuple

import pytest
import urllib3  # noqa: F401 - named in a warning filter

from pyhik.errors import ConfigError, DeviceUnreachableError
from pyhik.hikvision import HikCamera
from pyhik.isapi.client import IsapiClient
from pyhik.stream.device import HikDevice

FIXTURES = Path(__file__).parent / "fixtures"
DEVICE_INFO = (FIXTURES / "deviceinfo" / "ipc_DS-2CD2155FWD-I_V5.5.0.xml").read_bytes()
OPENSSL = shutil.which("openssl")


class Pki(NamedTuple):
    ca: Path
    """The CA certificate (PEM): what a user gives as verify_ssl."""
    other_ca: Path
    """A CA that signed nothing here."""
    good: ssl.SSLContext
    """Server context: a certificate for 127.0.0.1 and localhost, signed by ``ca``."""
    wrong_name: ssl.SSLContext
    """Server context: a certificate for camera.example only, signed by ``ca``."""


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"


def _make_ca(name: str, cwd: Path) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN=pyhik test {name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=cwd)


def _make_server(name: str, san: str, cwd: Path) -> ssl.SSLContext:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=cwd)
    (cwd / f"{name}.ext").write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                                     "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.pem",
             "-extfile", f"{name}.ext", cwd=cwd)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cwd / f"{name}.pem", cwd / f"{name}.key")
    return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if OPENSSL is None:
        pytest.skip("the openssl command is not installed: no test certificates")
    cwd = tmp_path_factory.mktemp("pki")
    _make_ca("ca", cwd)
    _make_ca("other", cwd)
    return Pki(cwd / "ca.pem", cwd / "other.pem",
               _make_server("device", "IP:127.0.0.1,DNS:localhost", cwd),
               _make_server("wrongname", "DNS:camera.example", cwd))


class _Device(http.server.BaseHTTPRequestHandler):
    """deviceInfo, and 404 for everything else (no triggers, no motion detection)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        found = self.path.endswith("/System/deviceInfo")
        body = DEVICE_INFO if found else b""
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _TlsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: "ssl.SSLContext | None") -> None:
        super().__init__(("127.0.0.1", 0), _Device)
        self.context = context

    def get_request(self):  # type: ignore[no-untyped-def]
        sock, address = super().get_request()
        if self.context is not None:
            # The handshake happens on the handler's thread (first read), so a failed
            # one never blocks the accept loop.
            sock = self.context.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass  # refused handshakes are what several tests are about


@pytest.fixture
def serve() -> Iterator[Callable[["ssl.SSLContext | None"], int]]:
    servers: List[_TlsServer] = []
    threads: List[threading.Thread] = []

    def start(context: "ssl.SSLContext | None") -> int:
        server = _TlsServer(context)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
        return server.server_address[1]

    yield start
    for server, thread in zip(servers, threads):
        server.shutdown()
        server.server_close()
        thread.join(5)


def _device_info_error(port: int, verify: "bool | str") -> str:
    with IsapiClient("https://127.0.0.1", port, "admin", "x", verify_ssl=verify,
                     timeout=5) as client:
        with pytest.raises(DeviceUnreachableError) as caught:
            client.device_info()
    return str(caught.value)


def test_a_ca_bundle_path_verifies_a_self_signed_device(pki, serve, monkeypatch):
    # requests lets this variable override a session's verify; pyhik's setting must win
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.other_ca))
    port = serve(pki.good)
    with IsapiClient("https://127.0.0.1", port, verify_ssl=str(pki.ca), timeout=5) as client:
        assert client.device_info().model == "DS-2CD2155FWD-I"
    device = HikDevice("https://localhost", port, verify_ssl=str(pki.ca))
    try:
        assert device.client.device_info().model == "DS-2CD2155FWD-I"
    finally:
        device.client.close()


def test_hikcamera_takes_a_ca_bundle_path(pki, serve):
    port = serve(pki.good)
    cam = HikCamera("https://127.0.0.1", port, "admin", "x", verify_ssl=str(pki.ca))
    assert cam.last_error is None and cam.name == "IP CAMERA"
    refused = HikCamera("https://127.0.0.1", port, "admin", "x")
    assert refused.name is None and "not trusted" in str(refused.last_error)


def test_without_the_ca_the_certificate_is_not_trusted(pki, serve):
    port = serve(pki.good)
    message = _device_info_error(port, True)
    assert "the certificate is not trusted" in message
    assert "verify_ssl: /path/ca.pem (CLI --ca-file)" in message
    assert "plain HTTP" not in message


def test_the_wrong_ca_names_the_bundle(pki, serve):
    port = serve(pki.good)
    message = _device_info_error(port, str(pki.other_ca))
    assert f"not trusted by the CA bundle {pki.other_ca}" in message


def test_a_certificate_for_another_host_name_says_so(pki, serve):
    port = serve(pki.wrong_name)
    message = _device_info_error(port, str(pki.ca))
    assert "not valid for this host name or address" in message
    assert "not trusted" not in message


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verification_off_accepts_the_untrusted_device(pki, serve, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.other_ca))
    port = serve(pki.wrong_name)
    with IsapiClient("https://127.0.0.1", port, verify_ssl=False, timeout=5) as client:
        assert client.device_info().model == "DS-2CD2155FWD-I"


def test_tls_to_a_plain_http_port_says_it_speaks_plain_http(serve):
    port = serve(None)
    message = _device_info_error(port, True)
    assert "this port speaks plain HTTP: use ssl: false or the HTTP port" in message
    assert "certificate" not in message


@pytest.mark.parametrize("verify", ["/nonexistent/ca.pem", "", 3, None])
def test_a_bad_verify_ssl_is_a_config_error(verify):
    with pytest.raises(ConfigError, match="verify_ssl"):
        IsapiClient("https://127.0.0.1", 443, verify_ssl=verify)  # type: ignore[arg-type]
