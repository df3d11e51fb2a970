"""One device's ISAPI client: the endpoints pyhik uses, as typed models and typed errors.

Auth follows the device's challenge (see :mod:`pyhik.isapi.http`): no credentials on the
first request, Digest when offered, Basic only when it is the only scheme. A rejected login
raises :class:`AuthenticationError` at once: one answer to a fresh challenge per call and
never a retry loop, because Hikvision devices lock the client's address out after a few
failed logins.

Errors: 401 -> AuthenticationError, 403 -> PermissionDeniedError (unless the device's
ResponseStatus says the feature is not supported), no connection -> DeviceUnreachableError,
no such document -> UnsupportedDeviceError, any 3xx -> RedirectError (no redirect is
ever followed, see :mod:`pyhik.isapi.http`); all derive from requests' RequestException.
A 404 on ``/ISAPI/...`` is retried once without the ``/ISAPI`` prefix (old firmware), and
the prefix that worked is tried first from then on. Every request has a timeout, and the
client may be used from several threads at once (one session, per-thread digest state).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from typing import Iterable, List, Mapping, Optional, Tuple, Union

import requests
from requests.auth import AuthBase

from pyhik.errors import (
    AuthenticationError,
    DeviceError,
    DeviceUnreachableError,
    RedirectError,
    UnsupportedDeviceError,
)

from .failures import access_error, redirect_error, transport_error
from .http import (
    ChallengeAuth,
    NoAuth,
    NoRedirectSession,
    Verify,
    challenge_schemes,
    check_verify,
    response_status,
    split_host,
    url_host,
)
from .models import (
    Channel,
    DeviceInfo,
    Trigger,
    direct_child,
    is_recorder,
    local_name,
    parse_bool,
    parse_channels,
    parse_device_info,
    parse_response_status,
    parse_triggers,
    parse_xml,
    select_triggers,
    to_xml_bytes,
)

__all__ = ["IsapiClient", "DeviceInfo", "Trigger", "Channel", "DEFAULT_NOTIFICATION_METHODS",
           "CONNECT_TIMEOUT_S", "READ_TIMEOUT_S"]

_LOGGER = logging.getLogger(__name__)

DEFAULT_NOTIFICATION_METHODS = frozenset({"center", "HTTP"})
"""Triggers linked to 'Notify Surveillance Center' (``center``; ``HTTP`` on some firmware)."""
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0
SNAPSHOT_READ_TIMEOUT_S = 10.0
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
"""A larger XML answer is refused (the biggest real ones, NVR trigger lists, are ~100 KB)."""
MAX_SNAPSHOT_BYTES = 32 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024

PATH_DEVICE_INFO = "/ISAPI/System/deviceInfo"
PATH_TRIGGERS = "/ISAPI/Event/triggers"
PATH_ALERT_STREAM = "/ISAPI/Event/notification/alertStream"
PATH_MOTION_DETECTION = "/ISAPI/System/Video/inputs/channels/{channel}/motionDetection"
CHANNEL_PATHS = ("/ISAPI/System/Video/inputs/channels", "/ISAPI/ContentMgmt/InputProxy/channels",
                 "/ISAPI/Streaming/channels")
_ISAPI_PREFIX = "/ISAPI"
_TRIGGER_LIST_ROOTS = frozenset({"EventTriggerList", "EventNotification"})

TimeoutSpec = Union[float, Tuple[float, float]]


class IsapiClient:
    """The ISAPI endpoints of one camera or NVR, over one requests session."""

    def __init__(self, host: str, port: int = 80, username: Optional[str] = None,
                 password: Optional[str] = None, *, ssl: Optional[bool] = None,
                 verify_ssl: Verify = True, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """``host`` may carry a scheme and a port (``https://cam.local:8443``); a port there
        wins over ``port``. ``ssl`` None: the host's scheme decides (http without one).
        ``verify_ssl``: check the certificate (True), don't (False), or check it against
        the CA bundle at this path (a self-signed device's CA); a missing path raises
        ConfigError. ``timeout`` is the connect timeout in seconds."""
        scheme, self.host, self.port = split_host(host, port, ssl)
        self.verify_ssl = check_verify(verify_ssl)
        self.username = username
        self.connect_timeout_s = float(timeout)
        self.base_url = f"{scheme}://{url_host(self.host)}:{self.port}"
        self.session: requests.Session = NoRedirectSession()
        self.session.verify = self.verify_ssl
        self.auth: Optional[ChallengeAuth] = (
            ChallengeAuth(username, password or "") if username else None)
        self.session.auth = self.auth or NoAuth()
        self._prefer_legacy = False
        self._warned_content_type = False
        self._info: Optional[DeviceInfo] = None

    def __repr__(self) -> str:
        return f"IsapiClient({self.base_url!r}, username={self.username!r})"

    def __enter__(self) -> "IsapiClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session and its connections."""
        self.session.close()

    # -- HTTP ---------------------------------------------------------------------------
    def request(self, method: str, path: str, *, data: Optional[Union[bytes, str]] = None,
                stream: bool = False, timeout: Optional[TimeoutSpec] = None,
                headers: Optional[Mapping[str, str]] = None) -> requests.Response:
        """Send one request (answering the auth challenge) and return the response.

        ``timeout``: (connect, read) seconds, or a read timeout; default
        (``timeout`` given to the constructor, READ_TIMEOUT_S). Raises
        AuthenticationError, PermissionDeniedError, DeviceUnreachableError, RedirectError
        (for any 3xx) or DeviceError;
        any other status is returned. A 404 on ``/ISAPI/...`` is retried once on the legacy
        path without ``/ISAPI``.
        """
        timeout = self._timeout(timeout)
        sent = dict(headers or {})
        if data is not None:
            sent.setdefault("Content-Type", "application/xml")
        legacy = path[len(_ISAPI_PREFIX):] if path.startswith(_ISAPI_PREFIX + "/") else None
        first = legacy if legacy and self._prefer_legacy else path
        response = self._send(method, first, data, stream, timeout, sent)
        if response.status_code != 404 or legacy is None:
            return response
        other = path if first == legacy else legacy
        _LOGGER.debug("%s: %s gave 404; trying %s", self.host, first, other)
        response.close()
        retry = self._send(method, other, data, stream, timeout, sent)
        if 200 <= retry.status_code < 300:
            self._prefer_legacy = other == legacy
        return retry

    def _timeout(self, timeout: Optional[TimeoutSpec]) -> Tuple[float, float]:
        if timeout is None:
            return (self.connect_timeout_s, READ_TIMEOUT_S)
        if isinstance(timeout, tuple):
            return timeout
        return (self.connect_timeout_s, float(timeout))

    def _send(self, method: str, path: str, data: Optional[Union[bytes, str]], stream: bool,
              timeout: Tuple[float, float], headers: Mapping[str, str],
              auth: Optional[AuthBase] = None) -> requests.Response:
        try:
            # verify per request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
            # override the session's verify, even a CA path or False given here.
            response = self.session.request(method, self.base_url + path, data=data,
                                            stream=stream, timeout=timeout, headers=headers,
                                            auth=auth, verify=self.verify_ssl)
        except requests.exceptions.RequestException as err:
            raise transport_error(f"{self.host}:{self.port}", err, timeout,
                                  self.verify_ssl) from err
        if 300 <= response.status_code < 400:
            response.close()
            raise redirect_error(f"{self.host}:{self.port}", method, path, response)
        if auth is None:
            self._raise_for_access(response, method, path)
        return response

    def _raise_for_access(self, response: requests.Response, method: str, path: str) -> None:
        error = access_error(response, self.host, self.username, self.auth, method, path)
        if error is not None:
            raise error

    def _fetch(self, path: str, what: str, *, limit: int = MAX_DOCUMENT_BYTES,
               timeout: Optional[TimeoutSpec] = None) -> Tuple[requests.Response, bytes]:
        """GET ``path``; the response (closed) and its body, read up to ``limit`` bytes."""
        response = self.request("GET", path, stream=True, timeout=timeout)
        try:
            body = bytearray()
            for chunk in response.iter_content(READ_CHUNK_BYTES):
                body += chunk
                if len(body) > limit:
                    raise UnsupportedDeviceError(
                        f"{self.host}: {what} is larger than {limit} bytes", response=response)
            return response, bytes(body)
        except requests.exceptions.RequestException as err:
            if isinstance(err, DeviceError):
                raise
            raise transport_error(f"{self.host}:{self.port}", err, self._timeout(timeout),
                                  self.verify_ssl) from err
        finally:
            response.close()

    def _document(self, path: str, what: str) -> ET.Element:
        """The root element of a 2xx XML answer; raises for errors and other answers."""
        response, body = self._fetch(path, what)
        root = parse_xml(body)
        status = parse_response_status(root) if root is not None else response_status(response)
        if response.status_code == 404:
            raise UnsupportedDeviceError(f"{self.host}: no {what} (HTTP 404 on {path} and "
                                         f"{path[len(_ISAPI_PREFIX):]})", response=response)
        if not 200 <= response.status_code < 300 or (status is not None and not status.ok):
            raise UnsupportedDeviceError(
                f"{self.host}: cannot read {what}: HTTP {response.status_code}"
                f"{': ' + str(status) if status else ''}", response=response)
        if root is None:
            raise UnsupportedDeviceError(f"{self.host}: {what} is not XML: {body[:80]!r}",
                                         response=response)
        return root

    # -- endpoints ----------------------------------------------------------------------
    def device_info(self) -> DeviceInfo:
        """``/ISAPI/System/deviceInfo``; UnsupportedDeviceError when there is none."""
        root = self._document(PATH_DEVICE_INFO, "deviceInfo")
        info = parse_device_info(root)
        if info is None:
            raise UnsupportedDeviceError(
                f"{self.host}: {PATH_DEVICE_INFO} answered <{local_name(root.tag)}>, not "
                "DeviceInfo: not a Hikvision ISAPI device?")
        self._info = info
        return info

    def all_triggers(self) -> List[Trigger]:
        """Every event trigger with its notification methods (also those with none).

        Raises UnsupportedDeviceError when the device answers with an error document
        (``ResponseStatus``), another document or a non-2xx status.
        """
        root = self._document(PATH_TRIGGERS, "event trigger list")
        name = local_name(root.tag)
        if name not in _TRIGGER_LIST_ROOTS:
            raise UnsupportedDeviceError(f"{self.host}: {PATH_TRIGGERS} answered <{name}>, "
                                         "not an EventTriggerList")
        return parse_triggers(root)

    def triggers(self, methods: Optional[Iterable[str]] = None, *,
                 is_nvr: Optional[bool] = None) -> List[Trigger]:
        """Triggers that notify by one of ``methods`` (default DEFAULT_NOTIFICATION_METHODS).

        On an NVR (``is_nvr``; else deviceInfo if already read, else a channel above 1)
        where none matches, every trigger with any notification method is returned
        instead. A device that cannot list its triggers (error document, 404) gives ``[]``
        and a warning, so that sensors can still come from the alerts themselves.
        """
        if isinstance(methods, str):
            methods = [methods]
        given = sorted(DEFAULT_NOTIFICATION_METHODS if methods is None else methods)
        wanted = frozenset(method.lower() for method in given)
        try:
            every = self.all_triggers()
        except UnsupportedDeviceError as err:
            _LOGGER.warning("%s; no sensors from the trigger list", err)
            return []
        if is_nvr is None:
            is_nvr = is_recorder(self._info, every)
        chosen = select_triggers(every, wanted, is_nvr)
        if chosen and not chosen[0].notifies_by(wanted):
            _LOGGER.info("%s: no trigger notifies by %s; this NVR's %d triggers with any "
                         "notification method are used instead", self.host,
                         "/".join(given), len(chosen))
        return chosen

    def video_channels(self) -> List[Channel]:
        """Video inputs, else InputProxy channels, else streaming channels; ``[]`` if none.

        An endpoint that fails or lists nothing moves on to the next. A rejected login, an
        unreachable device or a redirect is raised at once (trying more would only add
        failed logins, or more of the same).
        """
        for path in CHANNEL_PATHS:
            try:
                channels = parse_channels(self._document(path, "channel list"))
            except (AuthenticationError, DeviceUnreachableError, RedirectError):
                raise
            except DeviceError as err:
                _LOGGER.debug("%s", err)
                continue
            if channels:
                return channels
            _LOGGER.debug("%s: %s lists no channels", self.host, path)
        return []

    def motion_detection(self, channel: int = 1) -> Optional[bool]:
        """Whether motion detection is enabled; None when the device does not say."""
        root = self._motion_document(channel)
        enabled = direct_child(root, "enabled") if root is not None else None
        return parse_bool(enabled.text) if enabled is not None else None

    def set_motion_detection(self, enabled: bool, channel: int = 1) -> bool:
        """Switch motion detection (GET the document, change ``<enabled>``, PUT it back)."""
        root = self._motion_document(channel)
        node = direct_child(root, "enabled") if root is not None else None
        if root is None or node is None:
            _LOGGER.warning("%s: channel %s reports no motion detection setting",
                            self.host, channel)
            return False
        node.text = "true" if enabled else "false"
        response = self.request("PUT", PATH_MOTION_DETECTION.format(channel=channel),
                                data=to_xml_bytes(root))
        status = response_status(response)
        if not 200 <= response.status_code < 300 or (status is not None and not status.ok):
            _LOGGER.warning("%s: setting motion detection failed: HTTP %s %s", self.host,
                            response.status_code, status or "")
            return False
        return True

    def _motion_document(self, channel: int) -> Optional[ET.Element]:
        try:
            return self._document(PATH_MOTION_DETECTION.format(channel=channel),
                                  "motion detection")
        except UnsupportedDeviceError as err:
            _LOGGER.debug("%s", err)
            return None

    def snapshot(self, channel: int = 1, *, nvr: bool = False) -> Optional[bytes]:
        """A JPEG still, or None.

        Cameras: stream ``1`` for channel 1 (as the public pyhik), ``channel*100+1`` for
        others (multi-sensor cameras). NVRs: ``channel*100+1``, then the same id under
        ``/ISAPI/ContentMgmt/StreamingProxy``.
        """
        number = channel * 100 + 1 if nvr or channel != 1 else 1
        paths = [f"/ISAPI/Streaming/channels/{number}/picture"]
        if nvr:
            paths.append(f"/ISAPI/ContentMgmt/StreamingProxy/channels/{number}/picture")
        for path in paths:
            response, body = self._fetch(path, "snapshot", limit=MAX_SNAPSHOT_BYTES,
                                         timeout=SNAPSHOT_READ_TIMEOUT_S)
            if 200 <= response.status_code < 300 and body and not body.lstrip()[:1] == b"<":
                return body
            _LOGGER.debug("%s: no snapshot from %s (HTTP %s)", self.host, path,
                          response.status_code)
        return None

    def open_alert_stream(self, read_timeout: Optional[float] = None) -> requests.Response:
        """Open ``/ISAPI/Event/notification/alertStream`` (streaming; the caller closes it).

        ``read_timeout`` (default READ_TIMEOUT_S) bounds each wait for bytes. Raises the
        typed errors; UnsupportedDeviceError when the device has no alert stream; DeviceError
        for other non-2xx answers. A 2xx that is not multipart is returned (the framer
        copes), with a warning the first time.
        """
        timeout = (self.connect_timeout_s,
                   READ_TIMEOUT_S if read_timeout is None else float(read_timeout))
        response = self.request("GET", PATH_ALERT_STREAM, stream=True, timeout=timeout)
        if not 200 <= response.status_code < 300:
            status = response_status(response)
            response.close()
            if response.status_code == 404:
                raise UnsupportedDeviceError(f"{self.host}: the device has no alert stream "
                                             "(HTTP 404)", response=response)
            raise DeviceError(f"{self.host}: the alert stream answered HTTP "
                              f"{response.status_code} {status or response.reason or ''}",
                              response=response)
        content_type = response.headers.get("Content-Type", "")
        if "multipart" not in content_type.lower() and not self._warned_content_type:
            self._warned_content_type = True
            _LOGGER.warning("%s: the alert stream is %s, not multipart; this firmware may not "
                            "stream alerts", self.host, content_type or "untyped")
        return response

    def auth_schemes(self) -> List[str]:
        """Auth schemes (lower case) the device offers to an unauthenticated deviceInfo GET.

        ``[]`` when it answers without asking for a login.
        """
        timeout = (self.connect_timeout_s, READ_TIMEOUT_S)
        for path in (PATH_DEVICE_INFO, PATH_DEVICE_INFO[len(_ISAPI_PREFIX):]):
            response = self._send("GET", path, None, False, timeout, {}, auth=NoAuth())
            response.close()
            if response.status_code == 401:
                return challenge_schemes(response)
            if 200 <= response.status_code < 300:
                return []
            if response.status_code != 404:
                break
        raise UnsupportedDeviceError(f"{self.host}: {PATH_DEVICE_INFO} answered HTTP "
                                     f"{response.status_code} without asking for a login",
                                     response=response)

