"""Tests for pyhik.isapi.client (and the isapi_http / isapi_models modules under it).

HTTP is mocked with `responses`: a small fake device answers the real captured documents
in tests/fixtures, challenges for Digest or Basic auth and checks the answers (the digest
response hash is verified, so a wrong password really is wrong).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
import requests
import responses
from requests.utils import parse_dict_header

from pyhik.errors import (
    AuthenticationError,
    ConfigError,
    DeviceError,
    DeviceUnreachableError,
    PermissionDeniedError,
    UnsupportedDeviceError,
)
from pyhik.isapi.client import (
    CONNECT_TIMEOUT_S,
    DEFAULT_NOTIFICATION_METHODS,
    READ_TIMEOUT_S,
    Channel,
    DeviceInfo,
    IsapiClient,
    Trigger,
)
from pyhik.isapi.models import parse_channels, parse_device_info, parse_triggers, parse_xml, to_xml_bytes

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "http://127.0.0.1:80"
USER, PASSWORD = "admin", "s3cret-PW"
REALM, NONCE = "IP Camera(83813)", "4e6a4d7a4e7a4d304e7a63364f5449774f54526a"

CAM_INFO = FIXTURES / "deviceinfo" / "ipc_DS-2CD2155FWD-I_V5.5.0.xml"
NVR_TRIGGERS = FIXTURES / "triggers" / "nvr_hiksink-nvr_16ch_triggers.xml"
CAM_TRIGGERS = FIXTURES / "triggers" / "ipc_hiksink-cam_triggers.xml"
QB60_TRIGGERS = FIXTURES / "triggers" / "ipc_qb60_triggers_ns-stripped.xml"
VIS_TRIGGERS = FIXTURES / "triggers" / "vis_DS-KB8113-IME1B_V2.2.60_triggers.xml"
SUB_RESOURCE = FIXTURES / "triggers" / "nvr_DS-7608NI-K2-8P_V4.40.015_triggers_VMD-3_notifications.xml"
MOTION = FIXTURES / "motiondetection" / "ipc_pyhik_motionDetection_enabled.xml"

STATUS_OK = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ResponseStatus version="1.0" '
             b'xmlns="http://www.hikvision.com/ver20/XMLSchema"><requestURL>/x</requestURL>'
             b'<statusCode>1</statusCode><statusString>OK</statusString>'
             b'<subStatusCode>ok</subStatusCode></ResponseStatus>')
DEVICE_ERROR = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ResponseStatus version="1.0" '
                b'xmlns="http://www.hikvision.com/ver20/XMLSchema">'
                b'<requestURL>/ISAPI/Event/triggers</requestURL><statusCode>6</statusCode>'
                b'<statusString>Invalid Content</statusString>'
                b'<subStatusCode>deviceError</subStatusCode></ResponseStatus>')
NOT_SUPPORTED = (b'<ResponseStatus version="1.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
                 b'<statusCode>4</statusCode><statusString>Invalid Operation</statusString>'
                 b'<subStatusCode>notSupport</subStatusCode></ResponseStatus>')
LOW_PRIVILEGE = NOT_SUPPORTED.replace(b"notSupport", b"lowPrivilege")

Route = Tuple[int, Dict[str, str], bytes]


def read(path: Path) -> bytes:
    return path.read_bytes()


class FakeDevice:
    """A scripted ISAPI device behind `responses`: auth challenge plus routes."""

    def __init__(self, rsps: responses.RequestsMock, schemes: Tuple[str, ...] = ("digest",),
                 password: str = PASSWORD, merged: bool = False) -> None:
        self.schemes, self.password, self.merged = schemes, password, merged
        self.routes: Dict[Tuple[str, str], Route] = {}
        self.calls: List[Tuple[str, str, Optional[str]]] = []
        self.bodies: List[Optional[bytes]] = []
        self.lock = threading.Lock()
        for method in ("GET", "PUT"):
            rsps.add_callback(method, re.compile(re.escape(BASE) + r"/.*"), callback=self)

    def route(self, path: str, body: bytes, status: int = 200, method: str = "GET",
              content_type: str = "application/xml") -> None:
        self.routes[(method, path)] = (status, {"Content-Type": content_type}, body)

    def paths(self) -> List[str]:
        return [path for _method, path, _auth in self.calls]

    def __call__(self, request: requests.PreparedRequest) -> Route:
        path = request.path_url
        auth = request.headers.get("Authorization")
        with self.lock:
            self.calls.append((request.method, path, auth))
            self.bodies.append(request.body)
        if self.schemes and not self._authorized(request.method, auth):
            return 401, self._challenge(), b"<ResponseStatus/>"
        return self.routes.get((request.method, path), (404, {}, b"Not Found"))

    def _challenge(self):  # type: ignore[no-untyped-def]
        values = [f'Digest realm="{REALM}", qop="auth", nonce="{NONCE}", stale="FALSE"'
                  if scheme == "digest" else f'Basic realm="{REALM}"' for scheme in self.schemes]
        if self.merged:
            return {"WWW-Authenticate": ", ".join(values)}
        return [("WWW-Authenticate", value) for value in values]

    def _authorized(self, method: str, auth: Optional[str]) -> bool:
        if not auth:
            return False
        scheme, _, rest = auth.partition(" ")
        if scheme.lower() == "basic" and "basic" in self.schemes:
            return base64.b64decode(rest).decode() == f"{USER}:{self.password}"
        if scheme.lower() == "digest" and "digest" in self.schemes:
            fields = parse_dict_header(rest)
            md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
            ha1 = md5(f"{USER}:{REALM}:{self.password}")
            ha2 = md5(f"{method}:{fields['uri']}")
            expected = md5(f"{ha1}:{NONCE}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
            return fields.get("username") == USER and fields.get("response") == expected
        return False


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client():
    client = IsapiClient("127.0.0.1", 80, USER, PASSWORD)
    yield client
    client.close()


# -- auth ------------------------------------------------------------------------------
@pytest.mark.parametrize("merged", [False, True], ids=["two-headers", "one-merged-header"])
def test_digest_is_chosen_when_offered_and_then_reused(rsps, client, merged):
    device = FakeDevice(rsps, schemes=("basic", "digest"), merged=merged)
    device.route("/ISAPI/System/deviceInfo", read(CAM_INFO))
    assert client.device_info().model == "DS-2CD2155FWD-I"
    assert [auth for _m, _p, auth in device.calls][0] is None  # no credentials first
    assert device.calls[1][2].startswith("Digest ")
    assert len(device.calls) == 2
    assert not any(auth and auth.startswith("Basic") for _m, _p, auth in device.calls)
    assert client.auth.scheme == "digest"
    client.device_info()  # the nonce is reused: one request, straight to digest
    assert len(device.calls) == 3 and device.calls[2][2].startswith("Digest ")


def test_basic_only_device_gets_basic_after_the_challenge(rsps, client):
    device = FakeDevice(rsps, schemes=("basic",))
    device.route("/ISAPI/System/deviceInfo", read(CAM_INFO))
    client.device_info()
    assert [auth is None for _m, _p, auth in device.calls] == [True, False]
    assert device.calls[1][2].startswith("Basic ")
    client.device_info()
    assert len(device.calls) == 3 and device.calls[2][2].startswith("Basic ")


@pytest.mark.parametrize("schemes", [("digest",), ("basic",), ("basic", "digest")])
def test_wrong_password_raises_after_one_answer(rsps, schemes, caplog):
    caplog.set_level(logging.DEBUG)
    device = FakeDevice(rsps, schemes=schemes, password="the-right-one")
    device.route("/ISAPI/System/deviceInfo", read(CAM_INFO))
    with IsapiClient("127.0.0.1", 80, USER, PASSWORD) as client:
        with pytest.raises(AuthenticationError) as caught:
            client.device_info()
    assert len(device.calls) == 2  # the challenge and exactly one answer
    message = str(caught.value)
    assert PASSWORD not in message and PASSWORD not in caplog.text
    assert "127.0.0.1" in message and repr(USER) in message
    assert "lock" in message and "30 minutes" in message


def test_no_credentials_and_unknown_scheme_give_clear_errors(rsps):
    device = FakeDevice(rsps, schemes=("digest",))
    with IsapiClient("127.0.0.1") as anonymous:
        with pytest.raises(AuthenticationError, match="requires a user name and password"):
            anonymous.device_info()
    assert device.calls[0][2] is None
    rsps.replace("GET", re.compile(re.escape(BASE) + r"/.*"), status=401,
                 headers={"WWW-Authenticate": 'Negotiate abc=="'})
    with IsapiClient("127.0.0.1", 80, USER, PASSWORD) as client:
        with pytest.raises(AuthenticationError, match="negotiate"):
            client.device_info()
    rsps.replace("GET", re.compile(re.escape(BASE) + r"/.*"), status=401)
    with IsapiClient("127.0.0.1", 80, USER, PASSWORD) as client:
        with pytest.raises(AuthenticationError, match="without an auth challenge"):
            client.device_info()


def test_digest_choice_is_shared_by_threads(rsps, client):
    device = FakeDevice(rsps, schemes=("basic", "digest"))
    device.route("/ISAPI/System/deviceInfo", read(CAM_INFO))
    client.device_info()
    errors: List[BaseException] = []

    def other_thread() -> None:
        try:
            client.device_info()
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(5)
    assert not thread.is_alive() and not errors
    # A new thread has no nonce yet: it answers a fresh digest challenge, never Basic.
    assert [auth.split()[0] if auth else None for _m, _p, auth in device.calls[2:]] == [
        None, "Digest"]


def test_auth_schemes_lists_what_the_device_offers(rsps, client):
    device = FakeDevice(rsps, schemes=("digest", "basic"))
    assert client.auth_schemes() == ["digest", "basic"]
    assert device.calls == [("GET", "/ISAPI/System/deviceInfo", None)]
    device.schemes = ()
    device.route("/ISAPI/System/deviceInfo", read(CAM_INFO))
    assert client.auth_schemes() == []


# -- errors ----------------------------------------------------------------------------
def test_403_is_permission_denied_with_the_permission_to_grant(rsps, client):
    device = FakeDevice(rsps, schemes=())
    device.route("/ISAPI/Event/notification/alertStream", LOW_PRIVILEGE, status=403)
    with pytest.raises(PermissionDeniedError) as caught:
        client.open_alert_stream()
    message = str(caught.value)
    assert "Remote: Notify Surveillance Center/Trigger Alarm Output" in message
    assert "admin" in message and "lowPrivilege" in message
    assert isinstance(caught.value, requests.exceptions.RequestException)


def test_403_not_supported_is_not_a_permission_problem(rsps, client):
    device = FakeDevice(rsps, schemes=())
    device.route("/ISAPI/System/Video/inputs/channels/1/motionDetection", NOT_SUPPORTED, 403)
    assert client.motion_detection(1) is None
    device.route("/ISAPI/Event/notification/alertStream", NOT_SUPPORTED, 403)
    with pytest.raises(DeviceError, match="notSupport") as caught:
        client.open_alert_stream()
    assert not isinstance(caught.value, PermissionDeniedError)


@pytest.mark.parametrize("failure, words", [
    (requests.exceptions.ConnectionError("[Errno 111] Connection refused"), "refused"),
    (requests.exceptions.ConnectTimeout("timed out"), "no connection within 10 s"),
    (requests.exceptions.ReadTimeout("timed out"), "did not answer within 30 s"),
    (requests.exceptions.SSLError("certificate verify failed"), "over TLS"),
    (requests.exceptions.SSLError("certificate verify failed"), "not trusted"),
    (requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number"),
     "this port speaks plain HTTP"),
])
def test_connection_problems_are_device_unreachable(rsps, client, failure, words):
    rsps.add("GET", BASE + "/ISAPI/System/deviceInfo", body=failure)
    with pytest.raises(DeviceUnreachableError) as caught:
        client.device_info()
    assert "127.0.0.1:80" in str(caught.value) and words in str(caught.value)
    assert isinstance(caught.value, requests.exceptions.RequestException)


def test_every_raised_error_is_a_request_exception(rsps):
    device = FakeDevice(rsps, schemes=())
    device.route("/ISAPI/System/deviceInfo", b"<html><body>router</body></html>")
    with IsapiClient("127.0.0.1") as client:
        for call, expected in ((client.device_info, UnsupportedDeviceError),
                               (client.open_alert_stream, UnsupportedDeviceError),
                               (client.all_triggers, UnsupportedDeviceError)):
            with pytest.raises(expected) as caught:
                call()
            assert isinstance(caught.value, requests.exceptions.RequestException)


def test_alert_stream_errors_and_content_type_warning(rsps, client, caplog):
    device = FakeDevice(rsps, schemes=())
    with pytest.raises(UnsupportedDeviceError, match="no alert stream"):
        client.open_alert_stream()
    assert device.paths() == ["/ISAPI/Event/notification/alertStream",
                              "/Event/notification/alertStream"]
    device.route("/ISAPI/Event/notification/alertStream", b"oops", status=500)
    with pytest.raises(DeviceError, match="HTTP 500") as caught:
        client.open_alert_stream()
    assert not isinstance(caught.value, UnsupportedDeviceError)
    # The door station's broken firmware: 200, application/xml, only a declaration.
    device.route("/ISAPI/Event/notification/alertStream",
                 b'<?xml version="1.0" encoding="UTF-8"?>\r\n')
    for _ in range(2):
        client.open_alert_stream(read_timeout=5).close()
    assert caplog.text.count("not multipart") == 1
    device.route("/ISAPI/Event/notification/alertStream", b"--boundary\r\n",
                 content_type="multipart/mixed; boundary=boundary")
    response = client.open_alert_stream(read_timeout=5)
    assert response.status_code == 200 and response.raw.read(4) == b"--bo"
    response.close()


def test_bad_hosts_are_config_errors():
    for host, port in (("", 80), ("ftp://cam", 80), ("cam", 0), ("http://cam:99999", 80)):
        with pytest.raises(ConfigError):
            IsapiClient(host, port)


# -- host, legacy paths, timeouts -------------------------------------------------------
@pytest.mark.parametrize("host, port, ssl, base_url", [
    ("http://10.0.0.5", 80, None, "http://10.0.0.5:80"),
    ("10.0.0.5", 8000, None, "http://10.0.0.5:8000"),
    ("https://cam.local:8443", 80, None, "https://cam.local:8443"),
    ("https://cam.local", 443, None, "https://cam.local:443"),
    ("10.0.0.5", 443, True, "https://10.0.0.5:443"),
    ("http://[fe80::1]:81", 80, None, "http://[fe80::1]:81"),
    (" http://10.0.0.5:8080/ ", 80, None, "http://10.0.0.5:8080"),
])
def test_host_scheme_and_port(host, port, ssl, base_url):
    with IsapiClient(host, port, "u", "p", ssl=ssl) as client:
        assert client.base_url == base_url
        assert client.port == int(base_url.rsplit(":", 1)[1])
        assert client.host in base_url and "://" not in client.host
        assert PASSWORD not in repr(client) and "p'" not in repr(client)


def test_legacy_path_fallback_is_remembered(rsps, client):
    device = FakeDevice(rsps, schemes=())
    device.route("/System/deviceInfo", read(CAM_INFO))
    device.route("/Event/triggers", read(CAM_TRIGGERS))
    assert client.device_info().firmware == "V5.5.0"
    assert client.triggers()
    assert device.paths() == ["/ISAPI/System/deviceInfo", "/System/deviceInfo",
                              "/Event/triggers"]


def test_every_request_has_a_timeout(rsps):
    device = FakeDevice(rsps, schemes=("digest",))
    device.route("/ISAPI/System/deviceInfo", read(CAM_INFO))
    device.route("/ISAPI/Event/triggers", read(CAM_TRIGGERS))
    device.route("/ISAPI/System/Video/inputs/channels/1/motionDetection", read(MOTION))
    device.route("/ISAPI/System/Video/inputs/channels/1/motionDetection", STATUS_OK, 200, "PUT")
    device.route("/ISAPI/Streaming/channels/1/picture", b"\xff\xd8jpeg", 200,
                 content_type="image/jpeg")
    device.route("/ISAPI/Event/notification/alertStream", b"--b\r\n",
                 content_type="multipart/mixed; boundary=b")
    with IsapiClient("127.0.0.1", 80, USER, PASSWORD, timeout=4) as client:
        client.auth_schemes()
        client.device_info()
        client.triggers()
        client.video_channels()
        client.set_motion_detection(False)
        assert client.snapshot() == b"\xff\xd8jpeg"
        client.open_alert_stream(read_timeout=7).close()
    timeouts = [call.request.req_kwargs["timeout"] for call in rsps.calls]
    assert len(timeouts) == len(device.calls) > 10
    assert all(isinstance(t, tuple) and t[0] == 4 and t[1] > 0 for t in timeouts)
    assert timeouts[-1] == (4, 7)  # the alert stream's read timeout
    assert (CONNECT_TIMEOUT_S, READ_TIMEOUT_S) == (10.0, 30.0)


# -- device info -----------------------------------------------------------------------
@pytest.mark.parametrize("name, model, device_type, is_nvr", [
    ("dvr_DS-7208HUHI-F2-N_V3.4.88_EDITED-BY-SOURCE.xml", "DS-7208HUHI-F2/N/A", "IPC", True),
    ("ipc_DS-2CD2155FWD-I_V5.4.5.xml", "DS-2CD2155FWD-I", "IPCamera", False),
    ("ipc_DS-2CD2155FWD-I_V5.5.0.xml", "DS-2CD2155FWD-I", "IPCamera", False),
    ("ptz_DS-2DE4A425IW-DE_V5.5.71.xml", "DS-2DE4A425IW-DE", "IPDome", False),
    ("vis_DS-KB8113-IME1B_V2.2.60.xml", "DS-KB8113-IME1(B)", "VIS", False),
])
def test_device_info_fixtures(rsps, client, name, model, device_type, is_nvr):
    FakeDevice(rsps, schemes=()).route("/ISAPI/System/deviceInfo",
                                       read(FIXTURES / "deviceinfo" / name))
    info = client.device_info()
    assert (info.model, info.device_type, info.is_nvr) == (model, device_type, is_nvr)
    assert info.kind == ("NVR" if is_nvr else "CAM")
    assert info.name and info.device_id and info.serial and info.mac
    assert info.firmware.startswith("V") and info.raw["model"] == model
    hash(info)  # frozen and hashable despite the raw mapping


def test_device_info_recorder_detection():
    def info(device_type: str, model: str) -> DeviceInfo:
        return DeviceInfo("n", "id", model, "s", "V1", "m", device_type)
    assert info("NVR", "X").is_nvr and info("HybirdNVR", "X").is_nvr and info("DVR", "").is_nvr
    assert info("IPCamera", "DS-7608NI-K2/8P").is_nvr and info("", "iDS-7204HUHI-M1/S").is_nvr
    assert info("", "DS-9632NI-I8").is_nvr and info("", "HWN-4104MH-4P").is_nvr
    assert not info("IPCamera", "DS-2CD2185FWD-I").is_nvr and not info("VIS", "DS-KV6113").is_nvr


def test_device_info_keeps_the_id_byte_identical():
    root = parse_xml(b"<DeviceInfo><deviceID> 123 </deviceID><deviceName> Gate </deviceName>"
                     b"</DeviceInfo>")
    info = parse_device_info(root)
    assert info.device_id == " 123 " and info.name == "Gate" and info.model == ""
    assert parse_device_info(parse_xml(STATUS_OK)) is None


# -- triggers --------------------------------------------------------------------------
def triggers_from(path: Path) -> List[Trigger]:
    return parse_triggers(parse_xml(read(path)))


def test_nvr_trigger_list_channels_and_io_ports():
    every = triggers_from(NVR_TRIGGERS)
    assert len(every) == 121
    vmd = sorted(t.channel for t in every if t.event == "VMD")
    assert vmd == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15]
    assert sorted(t.channel for t in every if t.event == "videoloss") == list(range(1, 17))
    io = [t for t in every if t.event == "IO"]
    assert sorted(t.io_port for t in io) == [1, 2, 3, 4, 101, 201, 401, 701, 702, 1001]
    assert all(t.channel is None for t in io)
    device_level = {t.event: t for t in every if t.trigger_id == t.event}
    assert set(device_level) == {"diskfull", "diskerror", "nicbroken", "ipconflict",
                                 "illaccess", "recordingfailure"}
    assert all(t.channel is None and t.io_port is None for t in device_level.values())
    assert next(t for t in every if t.trigger_id == "tamper-3").methods == {"email"}
    assert next(t for t in every if t.trigger_id == "linedetection-5").channel == 5


def test_ptz_io_triggers_have_a_port_and_no_channel():
    io = [t for t in triggers_from(FIXTURES / "triggers" / "ptz_hiksink-ptz_triggers.xml")
          if t.event == "IO"]
    assert [(t.io_port, t.channel) for t in io] == [(1, None), (2, None)]


def test_every_trigger_fixture_parses():
    for path in sorted((FIXTURES / "triggers").iterdir()):
        for trigger in triggers_from(path):
            assert trigger.event and trigger.trigger_id
            assert trigger.channel is None or trigger.io_port is None
    assert triggers_from(SUB_RESOURCE) == []


def test_odd_ids_never_crash():
    doc = (b"\n\n<EventTriggerList xmlns='urn:x'><EventTrigger><id>VMD-x</id><eventType>VMD"
           b"</eventType><videoInputChannelID> </videoInputChannelID><dynVideoInputChannelID>"
           b"abc</dynVideoInputChannelID></EventTrigger><EventTrigger><eventType>IO</eventType>"
           b"<inputIOPortID>-1</inputIOPortID></EventTrigger><EventTrigger><id>x</id>"
           b"</EventTrigger><EventTrigger><eventType>VMD</eventType><dynVideoInputChannelID>"
           b"99999999999999</dynVideoInputChannelID></EventTrigger></EventTriggerList>")
    assert parse_triggers(parse_xml(doc)) == [
        Trigger("VMD", None, None, frozenset(), "VMD-x"),
        Trigger("IO", None, None, frozenset(), "IO"),
        Trigger("VMD", None, None, frozenset(), "VMD")]
    assert parse_xml(b"") is None and parse_xml(b"not xml") is None
    assert parse_xml(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>') is None


def serve_triggers(rsps, path: Path, info: Optional[Path] = None) -> FakeDevice:
    device = FakeDevice(rsps, schemes=())
    device.route("/ISAPI/Event/triggers", read(path))
    if info:
        device.route("/ISAPI/System/deviceInfo", read(info))
    return device


def test_triggers_keep_only_surveillance_center_ones(rsps, client):
    serve_triggers(rsps, CAM_TRIGGERS)
    chosen = client.triggers()
    assert [t.trigger_id for t in chosen] == [
        "VMD-1", "tamper-1", "linedetection-1", "fielddetection-1", "facedetection-1",
        "unattendedBaggage-1", "attendedBaggage-1", "scenechangedetection-1"]
    assert [t.trigger_id for t in client.triggers(["beep"])] == [
        "VMD-1", "diskerror", "videomismatch"]
    assert client.triggers("BEEP") == client.triggers({"beep"})  # one string, any case
    assert len(client.all_triggers()) == 17
    assert DEFAULT_NOTIFICATION_METHODS == {"center", "HTTP"}


def test_qb60_pir_and_vis_vmd_without_channel(rsps, client):
    serve_triggers(rsps, QB60_TRIGGERS)
    assert [(t.event, t.channel) for t in client.triggers()] == [("PIR", 1)]
    serve_triggers(rsps, VIS_TRIGGERS)
    assert client.triggers() == [Trigger("VMD", None, None, frozenset({"center"}), "vmd-1")]


def test_nvr_falls_back_to_every_linked_trigger(rsps, client, caplog):
    serve_triggers(rsps, NVR_TRIGGERS)
    caplog.set_level(logging.INFO, logger="pyhik.isapi.client")
    fallback = client.triggers(["HTTP"])  # none notifies by HTTP; channels > 1: an NVR
    every = client.all_triggers()
    assert fallback == [t for t in every if t.methods] and len(fallback) == 102
    assert not any(t.event == "IO" for t in fallback)
    assert "used instead" in caplog.text
    assert len(client.triggers()) == 94  # with "center" there is no fallback


def test_no_fallback_on_a_camera_unless_told_it_is_an_nvr(rsps, client):
    serve_triggers(rsps, QB60_TRIGGERS, CAM_INFO)
    client.device_info()
    assert client.triggers(["HTTP"]) == []
    assert [t.trigger_id for t in client.triggers(["HTTP"], is_nvr=True)] == [
        "VMD-1", "diskfull", "diskerror", "videomismatch", "PIR"]


def test_triggers_error_document_gives_empty_list_and_warning(rsps, client, caplog):
    device = serve_triggers(rsps, CAM_TRIGGERS)
    device.route("/ISAPI/Event/triggers", DEVICE_ERROR)
    assert client.triggers() == []
    assert "deviceError" in caplog.text
    with pytest.raises(UnsupportedDeviceError, match="deviceError"):
        client.all_triggers()
    device.route("/ISAPI/Event/triggers", read(SUB_RESOURCE))
    assert client.triggers() == []
    device.route("/ISAPI/Event/triggers", b"garbage", status=500)
    assert client.triggers() == []


# -- channels, motion detection, snapshots --------------------------------------------
INPUTS = (b'<VideoInputChannelList xmlns="http://www.hikvision.com/ver20/XMLSchema">'
          b'<VideoInputChannel><id>1</id><inputPort>1</inputPort><name>Front</name>'
          b'<videoInputEnabled>true</videoInputEnabled></VideoInputChannel>'
          b'<VideoInputChannel><id> </id></VideoInputChannel>'
          b'<VideoInputChannel><id>2</id><name></name><videoInputEnabled>false'
          b'</videoInputEnabled></VideoInputChannel></VideoInputChannelList>')
STREAMS = (b'<StreamingChannelList xmlns="http://www.isapi.org/ver20/XMLSchema">'
           b'<StreamingChannel><id>101</id><channelName>Gate</channelName><enabled>true'
           b'</enabled><Video><enabled>true</enabled></Video></StreamingChannel>'
           b'<StreamingChannel><id>102</id><channelName>Gate</channelName></StreamingChannel>'
           b'<StreamingChannel><id>201</id><channelName>Yard</channelName></StreamingChannel>'
           b'<StreamingChannel><id>x01</id></StreamingChannel></StreamingChannelList>')


def test_channels_from_video_inputs(rsps, client):
    device = FakeDevice(rsps, schemes=())
    device.route("/ISAPI/System/Video/inputs/channels", INPUTS)
    assert client.video_channels() == [Channel(1, "Front"), Channel(2, "Channel 2", False)]
    assert device.paths() == ["/ISAPI/System/Video/inputs/channels"]


def test_channels_fall_back_to_streaming_channels(rsps, client):
    device = FakeDevice(rsps, schemes=())
    device.route("/ISAPI/System/Video/inputs/channels",
                 b"<VideoInputChannelList version='1.0'/>")  # IP-only NVR: empty
    device.route("/ISAPI/ContentMgmt/InputProxy/channels", LOW_PRIVILEGE, status=403)
    device.route("/ISAPI/Streaming/channels", STREAMS)
    assert client.video_channels() == [Channel(1, "Gate"), Channel(2, "Yard")]
    assert device.paths() == ["/ISAPI/System/Video/inputs/channels",
                              "/ISAPI/ContentMgmt/InputProxy/channels",
                              "/ISAPI/Streaming/channels"]


def test_channels_empty_when_every_endpoint_fails(rsps, client):
    device = FakeDevice(rsps, schemes=())
    device.route("/ISAPI/ContentMgmt/InputProxy/channels", b"not xml")
    device.route("/ISAPI/Streaming/channels", NOT_SUPPORTED, status=403)
    assert client.video_channels() == []
    proxy = (b"<InputProxyChannelList><InputProxyChannel><id>3</id><name>IPCamera 03</name>"
             b"</InputProxyChannel></InputProxyChannelList>")
    assert parse_channels(parse_xml(proxy)) == [Channel(3, "IPCamera 03")]


def test_channels_stop_at_once_on_a_rejected_login(rsps):
    device = FakeDevice(rsps, schemes=("digest",), password="other")
    with IsapiClient("127.0.0.1", 80, USER, PASSWORD) as client:
        with pytest.raises(AuthenticationError):
            client.video_channels()
    assert len(device.calls) == 2


def test_motion_detection_get_and_set(rsps):
    device = FakeDevice(rsps, schemes=("digest",))
    path = "/ISAPI/System/Video/inputs/channels/1/motionDetection"
    device.route(path, read(MOTION))
    device.route(path, STATUS_OK, method="PUT")
    with IsapiClient("127.0.0.1", 80, USER, PASSWORD) as client:
        assert client.motion_detection() is True
        assert client.set_motion_detection(False) is True
    put = [body for (method, _p, auth), body in zip(device.calls, device.bodies)
           if method == "PUT" and auth]
    assert len(put) == 1
    body = put[0]
    assert b"<enabled>false</enabled>" in body and b"ns0:" not in body
    assert b'<MotionDetection version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">' \
        in body
    assert b"<gridMap>000000000000000000000000000000000c007e0c007ffffc</gridMap>" in body
    root = parse_xml(body)
    assert root.tag == "{http://www.hikvision.com/ver20/XMLSchema}MotionDetection"


def test_motion_detection_unsupported_or_refused(rsps, client):
    device = FakeDevice(rsps, schemes=())
    assert client.motion_detection(2) is None
    assert client.set_motion_detection(True, 2) is False
    path = "/ISAPI/System/Video/inputs/channels/1/motionDetection"
    device.route(path, read(MOTION))
    device.route(path, DEVICE_ERROR, method="PUT")
    assert client.set_motion_detection(True) is False
    assert b"ns0:" not in to_xml_bytes(parse_xml(read(MOTION)))


def test_snapshot_camera_and_nvr_paths(rsps, client):
    device = FakeDevice(rsps, schemes=())
    device.route("/ISAPI/Streaming/channels/1/picture", b"\xff\xd8cam", content_type="image/jpeg")
    device.route("/ISAPI/ContentMgmt/StreamingProxy/channels/201/picture", b"\xff\xd8nvr",
                 content_type="image/jpeg")
    assert client.snapshot() == b"\xff\xd8cam"
    assert client.snapshot(2, nvr=True) == b"\xff\xd8nvr"
    assert device.paths()[1:] == [
        "/ISAPI/Streaming/channels/201/picture", "/Streaming/channels/201/picture",
        "/ISAPI/ContentMgmt/StreamingProxy/channels/201/picture"]
    device.route("/ISAPI/Streaming/channels/1/picture", NOT_SUPPORTED)
    assert client.snapshot() is None  # an error document is not a picture


# -- found in review ---------------------------------------------------------------------
def test_after_a_refused_login_the_next_try_costs_one_failure_not_two(rsps):
    device = FakeDevice(rsps)
    device.route("/ISAPI/System/deviceInfo", read(CAM_INFO))
    client = IsapiClient("127.0.0.1", 80, USER, PASSWORD)
    client.device_info()  # this thread now holds a nonce
    device.password = "changed-on-the-device"
    for _ in range(2):
        before = len(device.calls)
        with pytest.raises(AuthenticationError):
            client.device_info()
        answered = [auth for _m, _p, auth in device.calls[before:] if auth]
        assert len(answered) in ((2,) if _ == 0 else (1,))  # old nonce + fresh; then 1
    client.close()


def test_unknown_encoding_is_not_xml():
    assert parse_xml(b"<?xml version='1.0' encoding='bogus'?><a/>") is None


def test_device_connects_when_the_user_may_not_read_triggers(rsps, caplog):
    from pyhik.stream.device import HikDevice
    device = FakeDevice(rsps)
    device.route("/ISAPI/System/deviceInfo", read(CAM_INFO))
    device.route("/ISAPI/Event/triggers", LOW_PRIVILEGE, status=403)
    profile = HikDevice("127.0.0.1", 80, USER, PASSWORD).connect()
    assert profile.sensor_states == () and profile.device_id
    assert "cannot read the event triggers" in caplog.text


def test_one_rule_chooses_the_triggers_for_the_client_the_device_and_check():
    from pyhik.isapi.models import is_recorder, select_triggers
    center = Trigger("VMD", 1, None, frozenset({"center"}), "vmd-1")
    record = Trigger("linedetection", 2, None, frozenset({"record"}), "ld-2")
    silent = Trigger("fielddetection", 1, None, frozenset(), "fd-1")
    wanted = frozenset({"center", "http"})
    assert select_triggers([center, record, silent], wanted, is_nvr=False) == [center]
    assert select_triggers([record, silent], wanted, is_nvr=True) == [record]
    assert select_triggers([record, silent], wanted, is_nvr=False) == []
    assert is_recorder(None, [record]) and not is_recorder(None, [center, silent])
