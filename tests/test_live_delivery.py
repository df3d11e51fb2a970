"""Delivery across devices: each device's callbacks run on its own thread, in order, and
stop() from anywhere returns (two emulated devices over real sockets)."""

import threading
import time

import pytest
from conftest import Recorder, fast_options

from pyhik.hikvision import HikCamera
from pyhik.stream.device import HikDevice
from pyhik.stream.recovery import Watchdog

PASSWORD = "S3cret!"
HANG_S = 10.0
"""How long a blocked listener would block; only a hang (or the old shared timer) reaches it."""


def start_device(emu, recorder=None, **options):
    """A started device whose stream is not reopened during a test (the emulated devices
    send no heartbeat): every release then comes from a deadline, not from a loss."""
    options.setdefault("watchdog", Watchdog(min_limit_s=60, silent_limit_s=60))
    device = HikDevice(emu.url, emu.port, "admin", PASSWORD, **fast_options(**options))
    device.connect()
    if recorder is not None:
        device.watcher.add_change_listener(recorder)
    connected = threading.Event()
    device.watcher.add_connection_listener(lambda up: up and connected.set())
    device.start()
    assert connected.wait(5), "the stream did not connect"
    return device


def thread_name(device):
    return f"pyhik-{device.watcher.name}"


def thread_ends(device, timeout=5.0):
    """True once the device's stream thread is gone (bounded wait)."""
    return wait_for(lambda: thread_name(device) not in {t.name for t in threading.enumerate()},
                    timeout)


@pytest.fixture
def devices():
    made = []
    yield made
    for device in made:
        device.close()


def test_a_blocked_listener_of_one_device_delays_no_change_of_another(emulators, devices):
    """A listener of device A blocks on A's stale release (a deadline, no traffic). B's
    changes, its own stale release included, still arrive while A is blocked, on B's
    own thread. (The shared timer thread used to run both, so B's release waited.)"""
    emu_a, emu_b = emulators("Cam A", password=PASSWORD), emulators("Cam B", password=PASSWORD)
    a_blocked, unblock = threading.Event(), threading.Event()
    threads = {"a": set(), "b": set()}
    rec_b = Recorder()

    def slow_a(change):
        threads["a"].add(threading.current_thread().name)
        if not change.new:
            a_blocked.set()
            unblock.wait(HANG_S)

    def on_b(change):
        threads["b"].add(threading.current_thread().name)
        rec_b(change)

    a = start_device(emu_a, slow_a, stale_s=0.2)
    b = start_device(emu_b, on_b, stale_s=0.2)
    devices += [a, b]
    try:
        emu_a.push("linedetection", "active")
        assert a_blocked.wait(5), "A's stale release did not come"
        emu_b.push("linedetection", "active")
        assert rec_b.wait_count(2, timeout=5), "B's changes waited for A's listener"
        assert [c.new for c in rec_b.items] == [True, False]
        assert not unblock.is_set()  # A was blocked all along
        assert emu_a.streams_opened == emu_b.streams_opened == 1 and b.connected
    finally:
        unblock.set()
    assert threads == {"a": {thread_name(a)}, "b": {thread_name(b)}}


def test_changes_of_one_device_arrive_in_the_order_they_happened(emulators, devices, recorder):
    emu = emulators("Front Porch", password=PASSWORD)
    device = start_device(emu, recorder, stale_s=0.3)
    devices.append(device)
    emu.push("VMD", "active")
    emu.push("linedetection", "active")
    emu.push("VMD", "inactive")
    assert recorder.wait_count(4)  # the line crossing's release comes from its deadline
    emu.push("VMD", "active")
    assert recorder.wait_count(5)
    assert [(c.sensor.key.code, c.new) for c in recorder.items] == [
        ("VMD", True), ("linedetection", True), ("VMD", False), ("linedetection", False),
        ("VMD", True)]
    assert emu.streams_opened == 1 and device.connected


def test_hold_ends_on_time_without_traffic(emulators, devices, recorder):
    """The customize delay: on stays on for hold_s after the event ends, then goes off
    from the deadline alone."""
    emu = emulators("Front Porch", password=PASSWORD)
    device = start_device(emu, recorder)
    devices.append(device)
    sensor = next(s for s in device.sensor_states() if s.key.code == "VMD")
    device.configure_sensors(holds={sensor.key: 0.3})
    emu.push("VMD", "active")
    emu.push("VMD", "inactive")
    assert recorder.wait_count(2)
    assert [c.new for c in recorder.items] == [True, False]
    assert emu.streams_opened == 1 and device.connected


def test_stop_waits_for_a_slow_listener_within_one_deadline(emulators, devices):
    emu = emulators("Front Porch", password=PASSWORD)
    entered, release = threading.Event(), threading.Event()
    after = Recorder()

    def slow(change):
        entered.set()
        release.wait(HANG_S)

    device = start_device(emu, slow)
    device.watcher.add_change_listener(after)
    devices.append(device)
    emu.push("VMD", "active")
    assert entered.wait(5)
    start = time.monotonic()
    device.stop(timeout=2.0)
    took = time.monotonic() - start
    release.set()
    assert thread_ends(device)
    assert after.items == []  # the listener after the slow one never started
    # One deadline for the callback and the thread: the old stop() took 2 x timeout.
    assert 1.9 <= took < 3.0


def test_stop_from_another_thread_returns_once_the_running_callback_ends(emulators, devices):
    emu = emulators("Front Porch", password=PASSWORD)
    entered, release = threading.Event(), threading.Event()
    device = start_device(emu, lambda change: (entered.set(), release.wait(HANG_S)))
    devices.append(device)
    emu.push("VMD", "active")
    assert entered.wait(5)
    threading.Timer(0.2, release.set).start()
    device.stop(timeout=HANG_S)
    assert release.is_set() and thread_name(device) not in {t.name for t in threading.enumerate()}


KINDS = ["alert change", "deadline change", "connection", "alert listener", "loss"]


@pytest.mark.parametrize("kind", KINDS)
def test_stop_from_inside_each_kind_of_callback_returns_and_is_the_last(emulators, kind):
    emu = emulators("Front Porch", password=PASSWORD)
    device = HikDevice(emu.url, emu.port, "admin", PASSWORD,
                       **fast_options(stale_s=0.2, watchdog=Watchdog(min_limit_s=60,
                                                                     silent_limit_s=60)))
    device.connect()
    calls, returned = [], threading.Event()
    up = threading.Event()

    def stop_here(what):
        calls.append(what)
        device.stop()
        calls.append("STOPPED")
        returned.set()

    def on_change(change):
        if kind == "alert change" and change.new:
            stop_here("change")
        elif kind == "deadline change" and not change.new:
            stop_here("change")
        elif kind == "loss" and not change.new:
            stop_here("change")
        else:
            calls.append("change")

    device.watcher.add_change_listener(on_change)
    device.watcher.add_change_listener(lambda change: calls.append("second"))
    device.watcher.add_connection_listener(lambda c: stop_here("connection") if kind == "connection"
                                   else (up.set(), calls.append("connection")))
    device.watcher.add_alert_listener(lambda alert: stop_here("alert")
                                      if kind == "alert listener" else None)
    try:
        device.start()
        if kind != "connection":
            assert up.wait(5)
            emu.push("linedetection" if kind == "deadline change" else "VMD", "active")
        if kind == "loss":
            assert wait_for(lambda: "second" in calls)
            emu.drop()
        assert returned.wait(5), "stop() from inside a callback did not return"
        assert thread_ends(device)
        assert calls[-1] == "STOPPED", calls  # no callback after the one that stopped
        assert not device.connected
    finally:
        device.close()


def test_a_callback_may_stop_another_device(emulators, devices):
    emu_a, emu_b = emulators("Cam A", password=PASSWORD), emulators("Cam B", password=PASSWORD)
    b = start_device(emu_b)
    returned = threading.Event()
    a = start_device(emu_a, lambda change: (b.stop(), returned.set()))
    devices += [a, b]
    emu_a.push("VMD", "active")
    assert returned.wait(5)
    assert not b.connected and a.connected


def test_hikcamera_callbacks_run_on_their_own_device_thread(emulators):
    cams, names = [], {}
    try:
        for label in ("Cam A", "Cam B"):
            emu = emulators(label, password=PASSWORD)
            cam = HikCamera("http://127.0.0.1", emu.port, "admin", PASSWORD, False)
            rec = Recorder()
            cam.add_update_callback(
                lambda msg, rec=rec: (rec(threading.current_thread().name)), f"{cam.get_id}.Line Crossing.1")
            cam._device.book.stale_s = 0.2
            cam._device.watcher._watchdog = Watchdog(min_limit_s=60, silent_limit_s=60)
            cam.start_stream()
            assert rec.wait_count(1)  # connected
            emu.push("linedetection", "active")
            assert rec.wait_count(3)  # on, then off from the deadline
            assert emu.streams_opened == 1
            cams.append(cam)
            names[label] = (set(rec.items), thread_name(cam._device))
        for label, (seen, own) in names.items():
            assert seen == {own}, label
    finally:
        for cam in cams:
            cam.disconnect()


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
