"""Tests of pyhik.emulator over real sockets on 127.0.0.1, with requests as the client."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator, List, Optional

import pytest
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from pyhik.emulator import EmulatedDevice, TriggerSpec
from pyhik.emulator.auth import Authenticator, AuthResult, parse_params

NS = "{http://www.hikvision.com/ver20/XMLSchema}"
STREAM = "/ISAPI/Event/notification/alertStream"
DIGEST = HTTPDigestAuth("admin", "12345")
END = b"</EventNotificationAlert>"
CLOSED_ERRORS = (requests.exceptions.RequestException, OSError, Exception)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cam() -> Iterator[EmulatedDevice]:
    with EmulatedDevice("Front Porch", heartbeat_s=None) as dev:
        yield dev


@pytest.fixture
def nvr() -> Iterator[EmulatedDevice]:
    with EmulatedDevice("Home", kind="nvr", channels=2, heartbeat_s=None) as dev:
        yield dev


def get(dev: EmulatedDevice, path: str, auth: object = DIGEST, **kw: object) -> requests.Response:
    return requests.get(dev.url + path, auth=auth, timeout=5, **kw)


def open_stream(dev: EmulatedDevice, read_timeout: float = 3.0, auth: object = DIGEST) -> requests.Response:
    before = dev.streams_opened
    resp = requests.get(dev.url + STREAM, auth=auth, stream=True, timeout=(3, read_timeout))
    assert resp.status_code == 200
    assert dev.streams_opened == before + 1  # counted before the client saw the headers
    return resp


def read_until(resp: requests.Response, marker: bytes, count: int = 1) -> bytes:
    """Read the stream until ``marker`` was seen ``count`` times (each read bounded by the
    response's read timeout)."""
    got = b""
    while got.count(marker) < count:
        data = resp.raw.read1(65536)
        if not data:
            raise AssertionError(f"stream ended after {got[-300:]!r}")
        got += data
    return got


def bodies(data: bytes) -> List[bytes]:
    """Bodies of the framed parts in ``data`` (by their Content-Length)."""
    out = []
    for m in re.finditer(rb"--boundary\r\nContent-Type: [^\r]+\r\nContent-Length: (\d+)\r\n\r\n", data):
        out.append(data[m.end():m.end() + int(m.group(1))])
    return out


def stream_closed(resp: requests.Response) -> bool:
    try:
        while resp.raw.read1(65536):
            pass
    except CLOSED_ERRORS:
        pass
    return True


# --- authentication --------------------------------------------------------------------

def test_no_credentials_gets_a_digest_challenge_with_fresh_nonces(cam: EmulatedDevice) -> None:
    first = get(cam, "/ISAPI/System/deviceInfo", auth=None)
    second = get(cam, "/ISAPI/System/deviceInfo", auth=None)
    assert first.status_code == 401
    challenge = first.headers["WWW-Authenticate"]
    assert challenge.startswith("Digest ") and 'qop="auth"' in challenge
    params = parse_params(challenge[len("Digest "):])
    assert re.fullmatch(r"IP Camera\(\w{5}\)", params["realm"])
    assert params["nonce"] != parse_params(second.headers["WWW-Authenticate"][7:])["nonce"]
    assert cam.auth_failures == 0  # no credentials carried: not a failure


def test_digest_auth_works_and_keeps_working_on_the_same_session(cam: EmulatedDevice) -> None:
    with requests.Session() as session:
        session.auth = HTTPDigestAuth("admin", "12345")
        for _ in range(3):
            assert session.get(cam.url + "/ISAPI/System/deviceInfo", timeout=5).status_code == 200
    assert cam.auth_failures == 0


def test_wrong_password_is_refused_and_counted(cam: EmulatedDevice) -> None:
    assert get(cam, "/ISAPI/System/deviceInfo", auth=HTTPDigestAuth("admin", "nope")).status_code == 401
    assert cam.auth_failures == 1
    assert get(cam, "/ISAPI/System/deviceInfo", auth=HTTPDigestAuth("root", "12345")).status_code == 401
    assert get(cam, "/ISAPI/System/deviceInfo", auth=HTTPBasicAuth("admin", "12345")).status_code == 401
    assert cam.auth_failures == 3  # Basic to a digest-only device is refused too


def test_set_password_opens_a_wrong_password_window(cam: EmulatedDevice) -> None:
    cam.set_password("changed")
    assert get(cam, "/ISAPI/System/deviceInfo").status_code == 401
    cam.set_password("12345")
    assert get(cam, "/ISAPI/System/deviceInfo").status_code == 200
    assert cam.auth_failures == 1


def test_basic_only_device() -> None:
    with EmulatedDevice(auth="basic", heartbeat_s=None) as dev:
        bare = get(dev, "/ISAPI/System/deviceInfo", auth=None)
        assert bare.status_code == 401
        assert bare.raw.headers.getlist("WWW-Authenticate") == [f'Basic realm="{dev.identity.realm}"']
        assert get(dev, "/ISAPI/System/deviceInfo", auth=HTTPBasicAuth("admin", "12345")).status_code == 200
        assert get(dev, "/ISAPI/System/deviceInfo", auth=HTTPBasicAuth("admin", "bad")).status_code == 401
        assert dev.auth_failures == 1


def test_both_schemes_offer_one_header_each_digest_first() -> None:
    with EmulatedDevice(auth="both", heartbeat_s=None) as dev:
        headers = get(dev, "/ISAPI/System/deviceInfo", auth=None).raw.headers.getlist("WWW-Authenticate")
        assert len(headers) == 2
        assert headers[0].startswith("Digest ") and headers[1].startswith("Basic ")
        assert get(dev, "/ISAPI/System/deviceInfo").status_code == 200
        assert get(dev, "/ISAPI/System/deviceInfo", auth=HTTPBasicAuth("admin", "12345")).status_code == 200
        assert dev.auth_failures == 0


def test_authenticator_checks_the_hash_uri_and_nonce() -> None:
    import hashlib

    auth = Authenticator("admin", "pw", "digest", "IP Camera(12345)")
    nonce = parse_params(auth.challenges()[0][7:])["nonce"]

    def header(uri: str, password: str = "pw", used_uri: Optional[str] = None) -> str:
        md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
        ha1, ha2 = md5(f"admin:IP Camera(12345):{password}"), md5(f"GET:{uri}")
        resp = md5(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}")
        return (f'Digest username="admin", realm="IP Camera(12345)", nonce="{nonce}", '
                f'uri="{used_uri or uri}", response="{resp}", qop=auth, nc=00000001, cnonce="abc"')

    assert auth.check("GET", "/a", header("/a")) is AuthResult.OK
    assert auth.check("GET", "/a", header("/a", "bad")) is AuthResult.REJECTED
    assert auth.check("GET", "/b", header("/a")) is AuthResult.REJECTED
    assert auth.check("GET", "/a", None) is AuthResult.MISSING
    auth.rotate()
    assert auth.check("GET", "/a", header("/a")) is AuthResult.STALE


# --- documents -------------------------------------------------------------------------

def test_device_info_with_stable_defaults(cam: EmulatedDevice) -> None:
    resp = get(cam, "/ISAPI/System/deviceInfo")
    assert resp.headers["Content-Type"] == "application/xml"
    root = ET.fromstring(resp.content)
    assert root.tag == NS + "DeviceInfo"
    fields = {el.tag[len(NS):]: el.text for el in root}
    assert fields["deviceName"] == "Front Porch" and fields["deviceType"] == "IPCamera"
    assert fields["firmwareVersion"] == "V5.7.3"
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", fields["macAddress"])
    twin = EmulatedDevice("Front Porch").identity
    assert (twin.device_id, twin.serial, twin.mac) == (fields["deviceID"], fields["serialNumber"],
                                                       fields["macAddress"])
    assert EmulatedDevice("Back Yard").identity.serial != twin.serial
    assert get(cam, "/ISAPI/System/deviceinfo").status_code == 200  # firmware ignores case


def test_camera_triggers_and_channels(cam: EmulatedDevice) -> None:
    root = ET.fromstring(get(cam, "/ISAPI/Event/triggers").content)
    triggers = {t.findtext(NS + "id"): t for t in root.iter(NS + "EventTrigger")}
    vmd = triggers["VMD-1"]
    assert vmd.findtext(NS + "eventType") == "VMD"
    assert vmd.findtext(NS + "videoInputChannelID") == "1" == vmd.findtext(NS + "dynVideoInputChannelID")
    assert [m.text for m in vmd.iter(NS + "notificationMethod")] == ["center"]
    assert "linedetection-1" in triggers
    assert triggers["IO-1"].findtext(NS + "inputIOPortID") == "1"
    assert not list(triggers["tamper-1"].iter(NS + "notificationMethod"))  # listed, not configured
    inputs = ET.fromstring(get(cam, "/ISAPI/System/Video/inputs/channels").content)
    assert [c.findtext(NS + "id") for c in inputs] == ["1"]
    assert get(cam, "/ISAPI/ContentMgmt/InputProxy/channels").status_code == 404
    streaming = ET.fromstring(get(cam, "/ISAPI/Streaming/channels").content)
    assert [c.findtext(NS + "id") for c in streaming] == ["101", "102"]


def test_custom_triggers() -> None:
    specs = [TriggerSpec("fielddetection", channel=1), TriggerSpec("PIR", channel=1, methods=("record",))]
    with EmulatedDevice(triggers=specs, heartbeat_s=None) as dev:
        root = ET.fromstring(get(dev, "/ISAPI/Event/triggers").content)
        ids = [t.findtext(NS + "id") for t in root.iter(NS + "EventTrigger")]
        assert ids == ["fielddetection-1", "PIR-1"]
        assert "center" not in get(dev, "/ISAPI/Event/triggers").text.split("PIR-1")[1]


def test_nvr_channels(nvr: EmulatedDevice) -> None:
    assert get(nvr, "/ISAPI/System/Video/inputs/channels").status_code == 200
    assert not list(ET.fromstring(get(nvr, "/ISAPI/System/Video/inputs/channels").content))
    proxies = ET.fromstring(get(nvr, "/ISAPI/ContentMgmt/InputProxy/channels").content)
    assert [(c.findtext(NS + "id"), c.findtext(NS + "name")) for c in proxies] == \
        [("1", "Camera 1"), ("2", "Camera 2")]
    streaming = ET.fromstring(get(nvr, "/ISAPI/Streaming/channels").content)
    assert [c.findtext(NS + "id") for c in streaming] == ["101", "102", "201", "202"]
    info = ET.fromstring(get(nvr, "/ISAPI/System/Device" + "Info").content)
    assert info.findtext(NS + "deviceType") == "NVR"


def test_motion_detection_get_and_put(cam: EmulatedDevice) -> None:
    path = "/ISAPI/System/Video/inputs/channels/1/motionDetection"
    assert ET.fromstring(get(cam, path).content).findtext(NS + "enabled") == "true"
    body = get(cam, path).text.replace("<enabled>true</enabled>", "<enabled>false</enabled>")
    put = requests.put(cam.url + path, data=body, auth=DIGEST, timeout=5)
    assert put.status_code == 200
    assert ET.fromstring(put.content).findtext(NS + "statusString") == "OK"
    assert ET.fromstring(get(cam, path).content).findtext(NS + "enabled") == "false"
    assert cam.motion_detection[1] is False
    assert requests.put(cam.url + path, data=b"<not xml", auth=DIGEST, timeout=5).status_code == 400
    assert get(cam, "/ISAPI/System/Video/inputs/channels/7/motionDetection").status_code == 404


def test_picture_is_a_jpeg(cam: EmulatedDevice) -> None:
    resp = get(cam, "/ISAPI/Streaming/channels/101/picture")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/jpeg"
    assert resp.content[:2] == b"\xff\xd8" and resp.content[-2:] == b"\xff\xd9"


def test_unknown_path_and_wrong_method(cam: EmulatedDevice) -> None:
    missing = get(cam, "/ISAPI/Nothing/here")
    assert missing.status_code == 404
    assert ET.fromstring(missing.content).findtext(NS + "subStatusCode") == "notSupport"
    wrong = requests.post(cam.url + "/ISAPI/System/deviceInfo", data=b"x", auth=DIGEST, timeout=5)
    assert wrong.status_code == 405
    assert get(cam, "/ISAPI/Nothing/here", auth=None).status_code == 401  # auth comes first


# --- the alert stream ------------------------------------------------------------------

def test_stream_headers_and_a_pushed_alert(cam: EmulatedDevice) -> None:
    resp = open_stream(cam)
    with resp:
        assert resp.headers["Content-Type"] == "multipart/mixed; boundary=boundary"
        assert resp.headers["Transfer-Encoding"] == "chunked"
        cam.push("VMD", "active")
        data = read_until(resp, END)
        assert b'Content-Type: application/xml; charset="UTF-8"\r\n' in data
        alert = ET.fromstring(bodies(data)[0])
        values = {el.tag[len(NS):]: el.text for el in alert if el.tag.startswith(NS)}
        assert values["eventType"] == "VMD" and values["eventState"] == "active"
        assert values["channelID"] == "1" and values["activePostCount"] == "1"
        assert values["portNo"] == str(cam.port) and values["protocol"] == "HTTP"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", values["dateTime"])
        assert values["eventDescription"] == "Motion alarm"
    assert cam.sent[-1][1:] == ("VMD", 1, None, "active", 1)


def test_heartbeat_arrives_with_a_short_period() -> None:
    with EmulatedDevice(heartbeat_s=0.2) as dev, open_stream(dev) as resp:
        alert = ET.fromstring(bodies(read_until(resp, END))[0])
        assert alert.findtext(NS + "eventType") == "videoloss"
        assert alert.findtext(NS + "eventState") == "inactive"
        assert alert.findtext(NS + "channelID") == "1"
        assert dev.sent == []  # heartbeats are not pushes


def test_nvr_alerts_use_dyn_channel_id_and_io_alerts_the_port(nvr: EmulatedDevice) -> None:
    with open_stream(nvr) as resp:
        nvr.push("linedetection", "active", 2, target="human", retransmission=True)
        nvr.push("IO", "active", io_port=3, description="custom")
        first, second = bodies(read_until(resp, END, 2))
        alert = ET.fromstring(first)
        assert alert.findtext(NS + "dynChannelID") == "2" and alert.find(NS + "channelID") is None
        assert alert.findtext(NS + "targetType") == "human"
        target = f"{NS}DetectionRegionList/{NS}DetectionRegionEntry/{NS}detectionTarget"
        assert alert.findtext(target) == "human"
        assert alert.findtext(NS + "isDataRetransmission") == "true"
        io = ET.fromstring(second)
        assert io.findtext(NS + "inputIOPortID") == "3" and io.find(NS + "dynChannelID") is None
        assert io.findtext(NS + "eventDescription") == "custom"
    assert nvr.sent[-1][1:] == ("IO", None, 3, "active", 1)


def test_active_post_count_climbs(cam: EmulatedDevice) -> None:
    with open_stream(cam) as resp:
        for state in ("active", "active", "active", "inactive"):
            cam.push("VMD", state)
        counts = [ET.fromstring(b).findtext(NS + "activePostCount") for b in bodies(read_until(resp, END, 4))]
        assert counts == ["1", "2", "3", "3"]


def test_json_oneline_and_jpeg_parts(cam: EmulatedDevice) -> None:
    with open_stream(cam) as resp:
        cam.push("VMD", "active", fmt="json")
        cam.push("VMD", "inactive", fmt="xml-oneline")
        cam.push_jpeg(5000)
        cam.push("linedetection", "active")
        data = read_until(resp, b"linedetection</eventType>")
        assert b'Content-Type: application/json; charset="UTF-8"' in data
        assert b"Content-Type: image/jpeg\r\nContent-Length: 5000\r\n" in data
        parts = bodies(data)
        doc = json.loads(parts[0])
        assert (doc["eventType"], doc["eventState"], doc["channelID"]) == ("VMD", "active", 1)
        assert b"\n" not in parts[1] and ET.fromstring(parts[1]).findtext(NS + "eventState") == "inactive"
        assert parts[2][:2] == b"\xff\xd8" and parts[2][-2:] == b"\xff\xd9" and len(parts[2]) == 5000


def test_push_parts_in_one_chunk_or_split_in_two(cam: EmulatedDevice) -> None:
    one, two = b"<a>1</a>", b'{"b": 2}'
    framed = (b'--boundary\r\nContent-Type: application/xml; charset="UTF-8"\r\nContent-Length: 8\r\n\r\n'
              b"<a>1</a>\r\n--boundary\r\nContent-Type: application/json; charset=\"UTF-8\"\r\n"
              b"Content-Length: 8\r\n\r\n{\"b\": 2}\r\n")
    with open_stream(cam) as resp:
        cam.push_parts([one, two])
        got = b""
        while len(got) < len(framed):
            got += resp.raw.read1(65536)
        assert got == framed
        cam.push_parts([one, two], split_at=10)
        assert resp.raw.read1(65536) == framed[:10]  # a chunk never reads past its end
        rest = b""
        while len(rest) < len(framed) - 10:
            rest += resp.raw.read1(65536)
        assert rest == framed[10:]
        cam.push_raw(b"\x00garbage\xff")
        assert resp.raw.read1(65536) == b"\x00garbage\xff"


def test_close_delimited_stream_without_chunking() -> None:
    with EmulatedDevice(chunked=False, heartbeat_s=None) as dev, open_stream(dev) as resp:
        assert "Transfer-Encoding" not in resp.headers and "Content-Length" not in resp.headers
        assert resp.headers["Connection"] == "close"
        dev.push("VMD", "active")
        assert ET.fromstring(bodies(read_until(resp, END))[0]).findtext(NS + "eventType") == "VMD"
        dev.drop()
        assert resp.raw.read1(65536) == b""  # the body ends where the connection does


def test_stall_sends_nothing_then_resume_delivers() -> None:
    with EmulatedDevice(heartbeat_s=0.1) as dev, open_stream(dev, read_timeout=0.5) as resp:
        read_until(resp, END)  # a heartbeat: the stream flows
        dev.stall()
        dev.push("VMD", "active")
        assert dev.open_streams == 1
        got = b""
        with pytest.raises(CLOSED_ERRORS):
            while True:  # drain what was in flight, then the read must time out
                got += resp.raw.read1(65536)
        # (urllib3 closes the connection on the read timeout, so the stream ends here.)
        assert b"VMD" not in got


def test_resume_sends_what_was_held() -> None:
    with EmulatedDevice(heartbeat_s=None) as dev, open_stream(dev) as resp:
        dev.stall()
        dev.push("VMD", "active", count=7)
        dev.resume()
        assert b"<activePostCount>7</activePostCount>" in read_until(resp, END)


def test_drop_closes_streams_and_the_server_keeps_accepting(cam: EmulatedDevice) -> None:
    first = open_stream(cam)
    with first:
        cam.drop()
        assert stream_closed(first)
        assert cam.open_streams == 0
    with open_stream(cam) as second:
        assert cam.streams_opened == 2 and cam.open_streams == 1
        cam.push("VMD")
        read_until(second, END)


def test_client_hang_up_ends_the_stream(cam: EmulatedDevice) -> None:
    open_stream(cam).close()
    assert cam.wait_for_open_streams(0, 3)
    cam.push("VMD")
    assert cam.sent[-1].delivered_to == 0


def test_many_streams_get_every_push(cam: EmulatedDevice) -> None:
    streams = [open_stream(cam) for _ in range(3)]
    try:
        assert cam.wait_for_streams(3)
        cam.push("VMD", "active")
        for resp in streams:
            assert b"VMD" in read_until(resp, END)
        assert cam.sent[-1].delivered_to == 3
    finally:
        for resp in streams:
            resp.close()


def test_stop_is_fast_with_a_stream_open() -> None:
    dev = EmulatedDevice(heartbeat_s=None).start()
    resp = open_stream(dev)
    started = time.monotonic()
    dev.stop()
    assert time.monotonic() - started < 1.0
    with resp:
        assert stream_closed(resp)
    with pytest.raises(requests.ConnectionError):
        requests.get(dev.url + "/ISAPI/System/deviceInfo", timeout=2)


def test_stream_status_403(cam: EmulatedDevice) -> None:
    cam.set_stream_status(403)
    resp = get(cam, STREAM)
    assert resp.status_code == 403
    assert ET.fromstring(resp.content).tag == NS + "ResponseStatus"
    assert cam.streams_opened == 0
    cam.set_stream_status(None)
    with open_stream(cam):
        assert cam.streams_opened == 1


def test_restart_drops_refuses_then_serves_on_the_same_port(cam: EmulatedDevice) -> None:
    port = cam.port
    with requests.Session() as session:
        session.auth = HTTPDigestAuth("admin", "12345")
        assert session.get(cam.url + "/ISAPI/System/deviceInfo", timeout=5).status_code == 200
        resp = open_stream(cam)
        rebooting = threading.Thread(target=cam.restart, kwargs={"down_s": 0.5})
        rebooting.start()
        with resp:
            assert stream_closed(resp)
        with pytest.raises(requests.ConnectionError):  # down: the port refuses
            requests.get(cam.url + "/ISAPI/System/deviceInfo", timeout=2)
        rebooting.join(5)
        assert cam.port == port
        # The old nonce is stale after the reboot: requests retries, no failure is counted.
        assert session.get(cam.url + "/ISAPI/System/deviceInfo", timeout=5).status_code == 200
    assert cam.auth_failures == 0


def test_play_runs_steps_in_order(cam: EmulatedDevice) -> None:
    thread = cam.play([(0.0, lambda: cam.push("VMD", "active")),
                       (0.01, lambda: cam.push("VMD", "inactive"))])
    thread.join(3)
    assert [(s.event, s.state, s.delivered_to) for s in cam.sent] == [("VMD", "active", 0),
                                                                       ("VMD", "inactive", 0)]


# --- what the acceptance check probes, and the CLI -------------------------------------

def test_nvr_home_as_the_acceptance_check_sees_it() -> None:
    with EmulatedDevice("Home", kind="nvr", channels=2, password="S3cret!", heartbeat_s=0.3) as dev:
        auth = HTTPDigestAuth("admin", "S3cret!")
        bare = get(dev, "/ISAPI/System/deviceInfo", auth=None)
        assert bare.status_code == 401 and "digest" in bare.headers["WWW-Authenticate"].lower()
        info = get(dev, "/ISAPI/System/deviceInfo", auth=auth)
        assert info.status_code == 200 and "<deviceName>Home</deviceName>" in info.text
        assert get(dev, "/ISAPI/System/deviceInfo", auth=HTTPDigestAuth("admin", "x")).status_code == 401
        triggers = get(dev, "/ISAPI/Event/triggers", auth=auth)
        chans = set(re.findall(r"<(?:dyn)?[vV]ideoInputChannelID>(\d+)<", triggers.text))
        assert {"1", "2"} <= chans and "center" in triggers.text
        assert "<videoInputChannelID>1<" in triggers.text
        with open_stream(dev, auth=auth) as resp:
            ctype = resp.headers["Content-Type"]
            assert "multipart/mixed" in ctype and "boundary" in ctype
            got = b""
            for chunk in resp.iter_content(chunk_size=None):
                got += chunk
                if END in got:
                    break
            assert END in got


def test_cli_serves_until_sigterm() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "pyhik.emulator", "--nvr", "2", "--name", "Home",
                             "--password", "S3cret!", "--heartbeat", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO))
    try:
        lines: List[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(10)
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[0] if lines else "")
        assert url, f"no URL printed: {lines!r}"
        info = requests.get(url.group(0) + "/ISAPI/System/deviceInfo",
                            auth=HTTPDigestAuth("admin", "S3cret!"), timeout=5)
        assert "<deviceName>Home</deviceName>" in info.text
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=5)
        assert proc.returncode == 0, err
        assert "S3cret!" not in lines[0] + out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
