"""The drop-in HikCamera API (COMPAT.md) against the emulator."""

import threading
import time

import pytest
import requests
from conftest import Recorder, fast_options

from pyhik import constants
from pyhik.emulator import TriggerSpec
from pyhik.hikvision import HikCamera, VideoChannel, get_video_channels, inject_events_into_camera

PASSWORD = "S3cret!"


def make_camera(emu, password=PASSWORD):
    cam = HikCamera("http://127.0.0.1", emu.port, "admin", password, False)
    if cam._device is not None:  # test speed: quick reconnects
        opts = fast_options()
        cam._device.watcher._backoff = opts["backoff"]
        cam._device.watcher._watchdog = opts["watchdog"]
    return cam


@pytest.fixture
def camera(emulators):
    made = []

    def make(*args, **kwargs):
        kwargs.setdefault("password", PASSWORD)
        emu = emulators(*args, **kwargs)
        cam = make_camera(emu)
        made.append(cam)
        return emu, cam
    yield make
    for cam in made:
        cam.disconnect()


def test_identity_and_states_after_construction(camera):
    emu, cam = camera("Front Porch")
    assert cam.get_name == "Front Porch"
    assert cam.get_type == "CAM"
    assert cam.get_id == emu.identity.device_id
    states = cam.current_event_states
    assert set(states) >= {"Motion", "Line Crossing"}
    entry = cam.fetch_attributes("Motion", 1)
    assert entry[0] is False and entry[1] == 1 and len(entry) == 5
    assert threading.active_count() == threading.active_count()  # no thread started...
    assert not [t for t in threading.enumerate() if t.name.startswith("pyhik-127")]


def test_nvr_type_and_channels(camera):
    emu, cam = camera("Home", kind="nvr", channels=2)
    assert cam.get_type == "NVR"
    assert [e[1] for e in cam.current_event_states["Motion"]] == [1, 2]
    assert cam.get_channels() == [1, 2]
    assert cam.get_stream_url(2).endswith(":554/Streaming/Channels/201")


def test_callbacks_fire_per_change_and_on_connection(camera):
    emu, cam = camera("Front Porch")
    rec = Recorder()
    sensor_id = f"{cam.get_id}.Motion.1"
    cam.add_update_callback(rec, sensor_id)
    cam.start_stream()
    assert rec.wait_count(1)  # stream_connected flipped: every callback is called
    assert cam.stream_connected
    emu.push("VMD", "active")
    assert rec.wait_count(2)
    assert cam.fetch_attributes("Motion", 1)[0] is True
    emu.push("VMD", "inactive")
    assert rec.wait_count(3)
    assert rec.items == [sensor_id] * 3
    assert cam.fetch_attributes("Motion", 1)[0] is False
    cam.remove_update_callback(rec, sensor_id)
    cam.remove_update_callback(rec, "never.added.1")


def wait_gone(name, count, timeout=5.0):
    """True once at most ``count`` live threads carry ``name`` (bounded wait)."""
    deadline = time.monotonic() + timeout
    while sum(t.name == name for t in threading.enumerate()) > count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def started_control(emu):
    """A second camera on the same device whose callbacks serve as markers: an alert it
    has seen went out to every open stream."""
    control = make_camera(emu)
    rec = Recorder()
    control.add_update_callback(rec, f"{control.get_id}.Motion.1")
    control.start_stream()
    assert rec.wait_count(1)  # connected
    return control, rec


def test_disconnect_is_fast_idempotent_and_restartable(camera):
    emu, cam = camera("Front Porch")
    cam.disconnect()  # before start: fine
    control, marks = started_control(emu)
    try:
        cam.start_stream()
        assert emu.wait_for_streams(2)
        rec_on = Recorder()
        cam.add_update_callback(rec_on, f"{cam.get_id}.Motion.1")
        assert rec_on.wait_count(1)  # connected
        emu.push("VMD", "active")
        assert rec_on.wait_count(2)
        start = time.monotonic()
        cam.disconnect()
        cam.disconnect()
        assert time.monotonic() - start < 1.0
        assert cam.fetch_attributes("Motion", 1)[0] is False  # released, not stuck on
        assert not cam.stream_connected
        cam.remove_update_callback(rec_on, f"{cam.get_id}.Motion.1")
        rec = Recorder()
        cam.add_update_callback(rec, f"{cam.get_id}.Motion.1")
        emu.push("VMD", "inactive")
        assert marks.wait_count(3)  # connected, on, off: the alert went out
        assert rec.items == []
        cam.start_stream()
        assert emu.wait_for_streams(3)
        assert rec.wait_count(1)  # connected
        emu.push("VMD", "active")
        assert rec.wait_for(lambda items: cam.fetch_attributes("Motion", 1)[0])
    finally:
        control.disconnect()


def test_target_is_the_fifth_element(camera):
    emu, cam = camera("Front Porch")
    rec = Recorder()
    cam.add_update_callback(rec, f"{cam.get_id}.Line Crossing.1")
    cam.start_stream()
    assert emu.wait_for_streams(1)
    assert rec.wait_count(1)
    emu.push("linedetection", "active", target="human")
    assert rec.wait_count(2)
    assert cam.fetch_attributes("Line Crossing", 1)[4] == "human"


def test_wrong_password_gives_none_id_and_logs(emulators, caplog):
    emu = emulators("Front Porch", password=PASSWORD)
    cam = HikCamera("http://127.0.0.1", emu.port, "admin", "nope")
    assert cam.get_id is None and cam.current_event_states is None
    assert "wrong user name or password" in caplog.text
    assert emu.auth_failures == 1


def test_unreachable_and_bad_host(caplog):
    cam = HikCamera("http://127.0.0.1", 9, "admin", "x")
    assert cam.get_id is None
    assert HikCamera(None).get_id is None
    assert HikCamera("http://[bad", 80, "a", "b").get_id is None


def test_event_triggers_inject_and_motion_detection(camera):
    emu, cam = camera("Front Porch")
    triggers = cam.get_event_triggers()
    assert triggers["VMD"] == [1]
    cam.inject_events({"Motion": [1, 2], "PIR Alarm": [1]})
    inject_events_into_camera(cam, {"Motion": [2]})
    assert [e[1] for e in cam.current_event_states["Motion"]] == [1, 2]
    assert cam.fetch_attributes("PIR Alarm", 1)[0] is False
    assert cam.get_motion_detection() is True
    cam.disable_motion_detection()
    assert cam.current_motion_detection_state is False and emu.motion_detection[1] is False
    cam.enable_motion_detection()
    assert emu.motion_detection[1] is True


def test_snapshot(camera):
    emu, cam = camera("Front Porch")
    assert cam.get_snapshot(1)[:2] == b"\xff\xd8"


def test_get_video_channels(emulators):
    emu = emulators("Home", kind="nvr", channels=3, password=PASSWORD)
    channels = get_video_channels("127.0.0.1", emu.port, "admin", PASSWORD)
    assert [c.id for c in channels] == [1, 2, 3]
    assert isinstance(channels[0], VideoChannel) and channels[0].enabled is True
    assert get_video_channels("127.0.0.1", emu.port, "admin", "bad") == []
    assert get_video_channels("127.0.0.1", 9, "admin", "x") == []


def test_shelter_alarm_keeps_public_name(camera):
    emu, cam = camera("Front Porch", triggers=[TriggerSpec("shelteralarm", channel=1),
                                               TriggerSpec("VMD", channel=1)])
    assert "Tamper Detection" in cam.current_event_states
    assert "Shelter Alarm" not in cam.current_event_states


def test_sensor_map_compatible():
    assert constants.SENSOR_MAP["shelteralarm"] == "Tamper Detection"
    assert constants.SENSOR_MAP["vmd"] == "Motion"
    assert "center" in constants.VALID_NOTIFICATION_METHODS


def test_errors_are_request_exceptions():
    from pyhik import errors
    for cls in (errors.AuthenticationError, errors.PermissionDeniedError,
                errors.DeviceUnreachableError, errors.UnsupportedDeviceError):
        assert issubclass(cls, requests.exceptions.RequestException)


def test_ipv6_host_keeps_its_brackets(caplog):
    cam = HikCamera("http://[::1]", 9, "admin", "x")
    assert cam.root_url == "http://[::1]:9"
    assert "invalid port" not in caplog.text
    cam.device_type = "CAM"
    assert cam.get_stream_url().startswith("rtsp://admin:x@[::1]:554/")


def test_callback_that_disconnects_stops_the_rest(camera):
    emu, cam = camera("Front Porch")
    calls = Recorder()
    sensor_id = f"{cam.get_id}.Motion.1"

    def first(msg):
        calls("first")
        if cam.fetch_attributes("Motion", 1)[0]:
            cam.disconnect()
            calls("disconnect returned")

    cam.add_update_callback(first, sensor_id)
    cam.add_update_callback(lambda msg: calls("second"), sensor_id)
    control, marks = started_control(emu)
    try:
        cam.start_stream()
        assert calls.wait_count(2)  # the connect flip reached both callbacks
        emu.push("VMD", "active")
        assert calls.wait_for(lambda items: "disconnect returned" in items)
        assert wait_gone(f"pyhik-127.0.0.1:{emu.port}", count=1)  # cam's thread ended
        emu.push("VMD", "inactive")  # a later alert: the marker
        assert marks.wait_count(3)
        assert calls.items == ["first", "second", "first", "disconnect returned"]
        assert not cam.stream_connected
    finally:
        control.disconnect()
