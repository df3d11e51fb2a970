"""The live stream against the emulator over real sockets: HikDevice + AlertWatcher."""

import logging
import threading
import time

import pytest
from conftest import Recorder, fast_options

from pyhik.emulator import TriggerSpec
from pyhik.state.book import SensorKey
from pyhik.stream.device import HikDevice

PASSWORD = "S3cret!"


def connect(emu, password=PASSWORD, **options):
    device = HikDevice(emu.url, emu.port, "admin", password, **fast_options(**options))
    device.connect()
    return device


@pytest.fixture
def watched(emulators, recorder):
    """Start a device on an emulator; yields (emulator, device, recorder of changes)."""
    devices = []

    def make(*args, options=None, **kwargs):
        kwargs.setdefault("password", PASSWORD)
        emu = emulators(*args, **kwargs)
        device = connect(emu, **(options or {}))
        device.watcher.add_change_listener(recorder)
        device.start()
        devices.append(device)
        assert emu.wait_for_streams(1)
        assert wait(lambda: device.connected)
        return emu, device
    yield make
    for device in devices:
        device.close()


def wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def states(recorder):
    return [(c.sensor.key.code, c.sensor.key.channel, c.new) for c in recorder.items]


def test_camera_motion_on_then_off(watched, recorder):
    emu, device = watched("Front Porch")
    emu.push("VMD", "active")
    assert recorder.wait_count(1)
    emu.push("VMD", "inactive")
    assert recorder.wait_count(2)
    assert states(recorder) == [("VMD", 1, True), ("VMD", 1, False)]
    assert device.sensor_state(SensorKey("VMD", 1)).count == 1


def test_nvr_line_crossing_on_channel_two_reaches_only_that_sensor(watched, recorder):
    emu, device = watched("Home", kind="nvr", channels=2)
    before = {s.key: s.is_on for s in device.sensor_states()}
    assert SensorKey("linedetection", 1) in before and SensorKey("linedetection", 2) in before
    emu.push("linedetection", "active", 2)
    assert recorder.wait_count(1)
    assert states(recorder)[0] == ("linedetection", 2, True)
    on = [s.key for s in device.sensor_states() if s.is_on]
    assert on == [SensorKey("linedetection", 2)]


def test_io_input(watched, recorder):
    emu, device = watched("Gate", triggers=[TriggerSpec("IO", io_port=1), TriggerSpec("VMD", 1)])
    assert SensorKey("IO", 1) in [s.key for s in device.sensor_states()]
    emu.push("IO", "active", io_port=1)
    assert recorder.wait_count(1)
    assert states(recorder) == [("IO", 1, True)]


@pytest.mark.parametrize("fmt", ["xml-oneline", "json"])
def test_one_line_xml_and_json_parts(watched, recorder, fmt):
    emu, _ = watched("Front Porch")
    emu.push("VMD", "active", fmt=fmt)
    assert recorder.wait_count(1)
    assert states(recorder) == [("VMD", 1, True)]


def test_several_parts_in_one_chunk_and_jpeg_between(watched, recorder):
    emu, _ = watched("Home", kind="nvr", channels=2)
    emu.push_jpeg(50_000)
    bodies = [alert_body("VMD", ch) for ch in (1, 2)]
    emu.push_parts(bodies)
    assert recorder.wait_count(2)
    assert sorted(states(recorder)) == [("VMD", 1, True), ("VMD", 2, True)]


def test_part_split_across_chunks(watched, recorder):
    emu, _ = watched("Front Porch")
    body = alert_body("VMD", 1)
    emu.push_parts([body], split_at=len(body) // 2)
    assert recorder.wait_count(1)


def test_non_chunked_body_delivers_each_alert_at_once(watched, recorder):
    emu, _ = watched("Front Porch", chunked=False)
    emu.push("VMD", "active")
    assert recorder.wait_count(1)
    emu.push("VMD", "inactive")
    assert recorder.wait_count(2)
    assert states(recorder) == [("VMD", 1, True), ("VMD", 1, False)]


def test_active_only_event_released_without_any_traffic(watched, recorder):
    emu, device = watched("Front Porch", options={"stale_s": 0.3})
    emu.push("linedetection", "active")
    assert recorder.wait_count(2, timeout=5)  # on, then off by the timer alone
    assert states(recorder) == [("linedetection", 1, True), ("linedetection", 1, False)]
    assert device.connected


def test_stall_is_detected_and_reconnected(watched, recorder, caplog):
    emu, device = watched("Front Porch")
    connections = Recorder()
    device.watcher.add_connection_listener(connections)
    emu.stall()
    assert emu.wait_for_streams(2, timeout=10), "watchdog did not reopen the stalled stream"
    emu.resume()
    assert connections.wait_for(lambda items: items[-2:] == [False, True], timeout=10)
    emu.push("VMD", "active")
    assert recorder.wait_for(lambda items: any(c.new for c in items))


def test_drop_releases_sensors_and_next_alert_arrives(watched, recorder, caplog):
    caplog.set_level(logging.INFO, logger="pyhik")
    emu, device = watched("Front Porch")
    emu.push("VMD", "active")
    assert recorder.wait_count(1)
    emu.drop()
    assert recorder.wait_count(2)  # released: its end will never be seen
    assert states(recorder)[1] == ("VMD", 1, False)
    assert emu.wait_for_streams(2)
    assert wait(lambda: device.connected)
    emu.push("VMD", "active")
    assert recorder.wait_count(3)
    assert wait(lambda: "restored" in caplog.text)
    assert caplog.text.count("alert stream lost") == 1


def test_wrong_password_is_a_clear_error_with_few_attempts(emulators):
    from pyhik.errors import AuthenticationError
    emu = emulators("Front Porch", password=PASSWORD)
    with pytest.raises(AuthenticationError) as err:
        connect(emu, password="Bad-Pa55word")
    assert "Bad-Pa55word" not in str(err.value)
    assert "admin" in str(err.value)
    assert emu.auth_failures == 1


def test_password_changed_while_streaming_backs_off_slowly(emulators, caplog):
    emu = emulators("Front Porch", password=PASSWORD)
    device = HikDevice(emu.url, emu.port, "admin", PASSWORD, auth_retry_s=60.0, **fast_options())
    device.connect()
    device.start()
    try:
        assert emu.wait_for_streams(1)
        emu.set_password("changed")
        emu.drop()
        # The marker: the thread has decided to wait 60 s (with the fast backoff it
        # would have retried every 50 ms); stopping it then ends the test's window.
        assert wait(lambda: "next try in 60 s" in caplog.text)
        device.stop()
        assert emu.auth_failures <= 2
        assert "next try in 120 s" not in caplog.text
    finally:
        device.close()


def test_forbidden_stream_names_the_permission(emulators, caplog):
    emu = emulators("Front Porch", password=PASSWORD)
    emu.set_stream_status(403)
    device = connect(emu, auth_retry_s=60.0)
    device.start()
    try:
        assert wait(lambda: "Notify Surveillance Center" in caplog.text)
    finally:
        device.close()


def test_stop_while_silent_returns_fast_and_no_callback_after(watched, recorder):
    emu, device = watched("Front Porch")
    control = Recorder()  # a second client of the same device: the marker
    other = connect(emu)
    other.watcher.add_change_listener(control)
    other.start()
    try:
        assert emu.wait_for_streams(2) and wait(lambda: other.connected)
        start = time.monotonic()
        device.stop()
        assert time.monotonic() - start < 1.0
        emu.push("VMD", "active")
        assert control.wait_count(1)  # the alert went out; the stopped device saw nothing
        assert recorder.items == []
        assert not device.connected
    finally:
        other.close()


def test_stop_while_unreachable_returns_fast(emulators):
    emu = emulators("Front Porch", password=PASSWORD)
    device = connect(emu)
    emu.stop()
    device.start()
    assert wait(lambda: device.watcher.last_error is not None)  # it has tried, and failed
    start = time.monotonic()
    device.stop()
    assert time.monotonic() - start < 1.0


def test_restart_after_stop(watched, recorder):
    emu, device = watched("Front Porch")
    device.stop()
    device.start()
    assert emu.wait_for_streams(2)
    assert wait(lambda: device.connected)
    emu.push("VMD", "active")
    assert recorder.wait_count(1)


def test_raising_callback_is_logged_and_stream_goes_on(watched, recorder, caplog):
    emu, device = watched("Front Porch")

    def boom(change):
        raise RuntimeError("listener bug")

    device.watcher.remove_change_listener(recorder)
    device.watcher.add_change_listener(boom)
    device.watcher.add_change_listener(recorder)
    emu.push("VMD", "active")
    emu.push("VMD", "inactive")
    assert recorder.wait_count(2)
    assert "listener bug" in caplog.text and "Traceback" in caplog.text


def test_a_removed_alert_listener_is_not_called_again(watched, recorder):
    emu, device = watched("Front Porch")
    gone, kept = Recorder(), Recorder()
    device.watcher.add_alert_listener(gone)
    device.watcher.add_alert_listener(kept)
    emu.push("VMD", "active")
    assert gone.wait_count(1) and kept.wait_count(1)
    device.watcher.remove_alert_listener(gone)
    device.watcher.remove_alert_listener(gone)  # a second removal is a no-op
    emu.push("VMD", "inactive")
    assert kept.wait_count(2) and recorder.wait_count(2)  # the later marker
    assert [a.state for a in gone.items] == ["active"]
    assert [a.state for a in kept.items] == ["active", "inactive"]


def test_twenty_devices_in_one_process(emulators):
    devices, recorders, emus = [], [], []
    try:
        for i in range(20):
            emu = emulators(f"Cam {i}", password=PASSWORD)
            device = connect(emu)
            rec = Recorder()
            device.watcher.add_change_listener(rec)
            device.start()
            emus.append(emu)
            devices.append(device)
            recorders.append(rec)
        for emu in emus:
            assert emu.wait_for_streams(1)
        assert wait(lambda: all(d.connected for d in devices))
        for emu in emus:
            emu.push("VMD", "active")
        for rec in recorders:
            assert rec.wait_count(1)
        names = [t.name for t in threading.enumerate()]
        ours = {f"pyhik-127.0.0.1:{emu.port}" for emu in emus}
        assert sorted(n for n in names if n in ours) == sorted(ours)  # one thread each
        assert not [n for n in names if n.startswith("pyhik-timer")]  # and no shared one
    finally:
        for device in devices:
            device.close()


def alert_body(event, channel):
    return (f'<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">'
            f"<channelID>{channel}</channelID><eventType>{event}</eventType>"
            f"<eventState>active</eventState></EventNotificationAlert>").encode()


def test_old_thread_outliving_stop_does_not_touch_the_new_run(watched, recorder):
    """A run stopped while its thread lingers must not release the new run's sensors."""
    emu, device = watched("Front Porch", options={"stale_s": 0.3})
    old_run = device.watcher._run
    device.stop()
    device.start()
    assert emu.wait_for_streams(2)
    assert wait(lambda: device.connected)
    emu.push("linedetection", "active")
    assert recorder.wait_count(1)
    device.watcher._lost(old_run)  # what the lingering old thread does when it ends
    assert device.sensor_state(SensorKey("linedetection", 1)).is_on
    assert recorder.wait_count(2)  # and the new run's stale timer still releases it
    assert states(recorder)[-1] == ("linedetection", 1, False)


def test_refused_logins_are_retried_ever_more_slowly(emulators, caplog):
    emu = emulators("Front Porch", password=PASSWORD)
    device = HikDevice(emu.url, emu.port, "admin", PASSWORD, auth_retry_s=0.05,
                       **fast_options())
    device.connect()
    emu.set_password("changed")
    device.start()
    try:
        assert wait(lambda: sum("next try in" in r.getMessage() for r in caplog.records) >= 3)
    finally:
        device.close()
    waits = [r.args[2] for r in caplog.records if "next try in" in r.msg]
    assert waits[:3] == [0.05, 0.1, 0.2]
