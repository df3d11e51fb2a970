"""HTTP side of the emulator: the threaded server, authentication, and the ISAPI routes."""

from __future__ import annotations

import logging
import re
import socket
import socketserver
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Pattern, Protocol, Tuple
from urllib.parse import urlsplit

from . import documents, parts, stream
from .auth import AuthResult

_LOGGER = logging.getLogger(__name__)
MAX_BODY_BYTES = 1 << 20
XML_TYPE = "application/xml"
LISTEN_BACKLOG = 128

Reply = Tuple[int, str, bytes]


class ServedDevice(Protocol):
    """What the HTTP side needs from a device: the whole interface between the server and
    :class:`~pyhik.emulator.device.EmulatedDevice`, which the server never imports."""

    identity: documents.Identity
    triggers: List[documents.TriggerSpec]
    motion_detection: Dict[int, bool]
    boundary: str
    chunked: bool
    heartbeat_s: Optional[float]

    @property
    def stream_status(self) -> Optional[int]: ...
    def authenticate(self, method: str, path: str, authorization: Optional[str]) -> AuthResult: ...
    def auth_challenges(self, stale: bool) -> List[str]: ...
    def note_auth_failure(self) -> None: ...
    def track_connection(self, sock: socket.socket, generation: int) -> bool: ...
    def untrack_connection(self, sock: socket.socket) -> None: ...
    def set_motion(self, channel: int, enabled: bool) -> None: ...
    def begin_stream(self, sock: socket.socket) -> Optional[stream.StreamConn]: ...
    def stream_ready(self, conn: stream.StreamConn) -> None: ...
    def end_stream(self, conn: stream.StreamConn) -> None: ...
    def is_stalled(self) -> bool: ...
    def heartbeat_bytes(self) -> bytes: ...


class DeviceServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer bound to one device; ``handle_request()`` never blocks."""

    daemon_threads = True
    block_on_close = False  # stop() closes connections itself; never wait on handler threads
    request_queue_size = LISTEN_BACKLOG
    timeout = 0

    def __init__(self, address: Tuple[str, int], device: "ServedDevice", generation: int) -> None:
        self.device = device
        self.generation = generation
        if ":" in address[0]:  # an IPv6 address (::1): the socket's family must say so
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (getfqdn): needless and slow.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _LOGGER.debug("connection from %s ended with an error", client_address, exc_info=True)


class Handler(BaseHTTPRequestHandler):
    """One client connection (keep-alive: several requests, or one alert stream)."""

    protocol_version = "HTTP/1.1"
    server_version = "App-webs/"
    disable_nagle_algorithm = True
    server: DeviceServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class name)
        _LOGGER.debug("%s %s", self.address_string(), format % args)

    def handle(self) -> None:
        device = self.server.device
        if not device.track_connection(self.connection, self.server.generation):
            return
        try:
            super().handle()
        except OSError as err:  # reset by the client, or cut by drop()/stop()
            _LOGGER.debug("connection closed: %s", err)
        finally:
            device.untrack_connection(self.connection)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _read_body(self) -> Optional[bytes]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # no device firmware takes chunked uploads
            self._reply(400, XML_TYPE, documents.response_status(self.path, 400))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            status = 413 if length > 0 else 400
            self._reply(status, XML_TYPE, documents.response_status(self.path, status))
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        if body is None:
            return
        device = self.server.device
        verdict = device.authenticate(method, self.path, self.headers.get("Authorization"))
        if verdict is not AuthResult.OK:
            if verdict is AuthResult.REJECTED:
                device.note_auth_failure()
            challenges = device.auth_challenges(verdict is AuthResult.STALE)
            self._reply(401, XML_TYPE, documents.response_status(self.path, 401, device.identity.is_nvr),
                        [("WWW-Authenticate", c) for c in challenges])
            return
        path = urlsplit(self.path).path.rstrip("/") or "/"
        for pattern, methods in ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            action = methods.get(method)
            if action is None:
                self._reply(405, XML_TYPE, documents.response_status(self.path, 405),
                            [("Allow", ", ".join(sorted(methods)))])
                return
            reply = action(self, match, body)
            if reply is not None:
                self._reply(*reply)
            return
        self._reply(404, XML_TYPE, documents.response_status(self.path, 404, device.identity.is_nvr))

    def _reply(self, status: int, ctype: str, body: bytes,
               headers: Optional[List[Tuple[str, str]]] = None) -> None:
        self.send_response(status)
        for name, value in headers or ():
            self.send_header(name, value)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    # --- routes -------------------------------------------------------------------------

    def _status(self, status: int) -> Reply:
        is_nvr = self.server.device.identity.is_nvr
        return status, XML_TYPE, documents.response_status(self.path, status, is_nvr)

    def get_device_info(self, match: Any, body: bytes) -> Reply:
        return 200, XML_TYPE, documents.device_info(self.server.device.identity)

    def get_triggers(self, match: Any, body: bytes) -> Reply:
        device = self.server.device
        return 200, XML_TYPE, documents.trigger_list(device.identity, device.triggers)

    def get_video_inputs(self, match: Any, body: bytes) -> Reply:
        return 200, XML_TYPE, documents.video_inputs(self.server.device.identity)

    def get_input_proxies(self, match: Any, body: bytes) -> Reply:
        ident = self.server.device.identity
        if not ident.is_nvr:
            return self._status(404)
        return 200, XML_TYPE, documents.input_proxy_channels(ident)

    def get_streaming(self, match: Any, body: bytes) -> Reply:
        return 200, XML_TYPE, documents.streaming_channels(self.server.device.identity)

    def _channel(self, text: str) -> Optional[int]:
        number = int(text)
        channel = number // 100 if number >= 100 else number
        return channel if 1 <= channel <= self.server.device.identity.channels else None

    def get_motion(self, match: Any, body: bytes) -> Reply:
        device = self.server.device
        channel = self._channel(match.group(1))
        if channel is None:
            return self._status(404)
        return 200, XML_TYPE, documents.motion_detection(device.identity, device.motion_detection[channel])

    def put_motion(self, match: Any, body: bytes) -> Reply:
        channel = self._channel(match.group(1))
        if channel is None:
            return self._status(404)
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return self._status(400)
        enabled = next((el.text for el in root if el.tag.rsplit("}", 1)[-1] == "enabled"), None)
        if enabled is None or enabled.strip().lower() not in ("true", "false"):
            return self._status(400)
        self.server.device.set_motion(channel, enabled.strip().lower() == "true")
        return self._status(200)

    def get_picture(self, match: Any, body: bytes) -> Reply:
        if self._channel(match.group(1)) is None:
            return self._status(404)
        return 200, parts.JPEG_CONTENT_TYPE, parts.jpeg(PICTURE_BYTES)

    def get_alert_stream(self, match: Any, body: bytes) -> Optional[Reply]:
        device = self.server.device
        status = device.stream_status
        if status is not None:
            return self._status(status)
        conn = device.begin_stream(self.connection)
        if conn is None:
            return self._status(503)
        self.close_connection = True
        try:
            # Counted before the headers go out: a client that has seen the 200 may push at once.
            device.stream_ready(conn)
            self.send_response(200)
            self.send_header("MIME-Version", "1.0")
            self.send_header("Connection", "close")
            self.send_header("Content-Type", f"multipart/mixed; boundary={device.boundary}")
            if device.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            stream.serve(conn, device.heartbeat_s, device.is_stalled, device.heartbeat_bytes)
        except OSError as err:
            _LOGGER.debug("alert stream ended: %s", err)
        finally:
            device.end_stream(conn)
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return None


PICTURE_BYTES = 4096
_Action = Callable[[Handler, Any, bytes], Optional[Reply]]


def _route(pattern: str, **methods: _Action) -> Tuple[Pattern[str], Dict[str, _Action]]:
    return re.compile(pattern, re.IGNORECASE), methods


# Real firmware matches ISAPI paths case-insensitively (``/ISAPI/System/deviceinfo`` works).
ROUTES = [
    _route(r"/ISAPI/System/deviceInfo", GET=Handler.get_device_info),
    _route(r"/ISAPI/Event/triggers", GET=Handler.get_triggers),
    _route(r"/ISAPI/System/Video/inputs/channels", GET=Handler.get_video_inputs),
    _route(r"/ISAPI/ContentMgmt/InputProxy/channels", GET=Handler.get_input_proxies),
    _route(r"/ISAPI/Streaming/channels", GET=Handler.get_streaming),
    _route(r"/ISAPI/System/Video/inputs/channels/(\d{1,4})/motionDetection",
           GET=Handler.get_motion, PUT=Handler.put_motion),
    _route(r"/ISAPI/Streaming/channels/(\d{1,4})/picture", GET=Handler.get_picture),
    _route(r"/ISAPI/Event/notification/alertStream", GET=Handler.get_alert_stream),
]
