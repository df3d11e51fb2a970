"""The faces' listeners go through the watcher's gate: none runs once stop() has returned,
and a listener that stops the stream is the last one, for DeviceSensors and HikCamera too."""

import threading

from conftest import WAIT_S, fast_options

from pyhik.emulator import TriggerSpec
from pyhik.hikvision import HikCamera
from pyhik.sensors.entities import DeviceSensors

PASSWORD = "S3cret!"
TRIGGERS = [TriggerSpec("VMD", channel=1)]


def _hub(emu):
    hub = DeviceSensors.from_config({"host": "127.0.0.1", "port": emu.port, "username": "admin",
                                     "password": PASSWORD}, **fast_options())
    return hub.setup()


def _stream_thread(watcher):
    return watcher._run.thread


def test_a_sensor_listener_that_stops_the_hub_is_the_last(emulators):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    hub = _hub(emu)
    seen = []

    def first(change):
        seen.append("first")
        hub.stop()
        seen.append("STOPPED")

    hub.add_listener(first)
    hub.add_listener(lambda change: seen.append("second"))
    try:
        hub.start()
        thread = _stream_thread(hub.device.watcher)
        assert emu.wait_for_open_streams(1)
        emu.push("VMD", "active", 1)
        thread.join(WAIT_S)  # the marker: the stream thread has ended
        assert not thread.is_alive()
        assert seen == ["first", "STOPPED"]
    finally:
        hub.close()


def test_no_sensor_listener_after_a_stop_that_timed_out(emulators):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    hub = _hub(emu)
    entered, release, seen = threading.Event(), threading.Event(), []

    def first(change):
        seen.append("first")
        entered.set()
        release.wait(WAIT_S)

    hub.add_listener(first)
    hub.add_listener(lambda change: seen.append("second"))
    try:
        hub.start()
        thread = _stream_thread(hub.device.watcher)
        assert emu.wait_for_open_streams(1)
        emu.push("VMD", "active", 1)
        assert entered.wait(WAIT_S)
        hub.device.stop(timeout=0.05)  # gives up: the first listener still runs
        release.set()
        thread.join(WAIT_S)
        assert not thread.is_alive()
        assert seen == ["first"]
    finally:
        release.set()
        hub.close()


def test_a_camera_callback_that_disconnects_is_the_last(emulators):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    cam = HikCamera("http://127.0.0.1", emu.port, "admin", PASSWORD)
    seen = []
    sensor = f"{cam.get_id}.Motion.1"

    def first(msg):
        seen.append("first")
        cam.disconnect()
        seen.append("STOPPED")

    cam.add_update_callback(first, sensor)
    cam.add_update_callback(lambda msg: seen.append("second"), sensor)
    cam.start_stream()
    thread = _stream_thread(cam._device.watcher)
    thread.join(WAIT_S)  # the connection flip calls every callback: the first disconnects
    assert not thread.is_alive()
    assert seen == ["first", "STOPPED"]


def test_a_stale_stream_thread_calls_no_camera_callback(emulators):
    """disconnect() gave up on a slow callback and the stream was started again: the old
    thread, once the callback returns, must not call the next one (the new run's gate is
    open, but it is not the old thread's)."""
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    cam = HikCamera("http://127.0.0.1", emu.port, "admin", PASSWORD)
    sensor = f"{cam.get_id}.Motion.1"
    entered, release = threading.Event(), threading.Event()
    second_threads = []

    def first(msg):
        if not entered.is_set():
            entered.set()
            release.wait(WAIT_S)

    cam.add_update_callback(first, sensor)
    cam.add_update_callback(lambda msg: second_threads.append(threading.current_thread()),
                            sensor)
    try:
        cam.start_stream()
        old = _stream_thread(cam._device.watcher)
        assert entered.wait(WAIT_S)
        cam._device.stop(timeout=0.05)  # gives up on the slow callback
        cam.start_stream()
        new = _stream_thread(cam._device.watcher)
        assert new is not old
        release.set()
        old.join(WAIT_S)
        assert not old.is_alive()
        assert old not in second_threads
    finally:
        release.set()
        cam.disconnect()


def test_the_gate_admits_until_stopped_and_logs_a_raise(caplog):
    from pyhik.stream.listeners import Gate

    gate, seen = Gate("cam"), []
    assert gate.call(seen.append, 1)
    assert gate.call(lambda arg: 1 / 0, 2) and "cam: a listener raised" in caplog.text
    gate.stopped.set()
    assert not gate.call(seen.append, 3)
    assert seen == [1] and gate.wait_calls(0)


def test_watcher_call_only_from_its_own_stream_thread(emulators):
    emu = emulators("Front Porch", password=PASSWORD, triggers=TRIGGERS)
    hub = _hub(emu)
    seen = []
    try:
        assert not hub.device.watcher.call(seen.append, "before start")
        hub.start()
        assert not hub.device.watcher.call(seen.append, "from another thread")
        assert seen == []
    finally:
        hub.close()
