import pytest

from pyhik.stream.recovery import Watchdog


def test_no_heartbeat_uses_silent_limit():
    assert Watchdog(silent_limit_s=120).limit_s == 120


def test_ten_second_heartbeats_give_thirty_seconds():
    w = Watchdog()
    for t in (0, 10, 20, 30):
        w.saw_heartbeat(t)
    assert w.limit_s == 30


def test_fast_heartbeats_never_under_minimum():
    w = Watchdog()
    for i in range(10):
        w.saw_heartbeat(i * 0.3)
    assert w.limit_s == 30


def test_slow_heartbeats_stretch_limit_but_not_past_silent_limit():
    w = Watchdog(silent_limit_s=120)
    w.saw_heartbeat(0)
    w.saw_heartbeat(25)
    assert w.limit_s == 75
    w.saw_heartbeat(25 + 500)  # an outage, not a period
    assert w.limit_s == 75


def test_expired_counts_from_last_byte():
    w = Watchdog()
    w.saw_heartbeat(0)
    w.saw_heartbeat(10)
    w.reset(100)
    assert not w.expired(129)
    w.saw_bytes(129)
    assert not w.expired(150)
    assert w.expired(160)


def test_bad_parameters():
    with pytest.raises(ValueError):
        Watchdog(min_limit_s=0)


def test_one_late_heartbeat_does_not_raise_the_limit_for_good():
    w = Watchdog(silent_limit_s=120)
    t = 0.0
    for _ in range(5):
        w.saw_heartbeat(t)
        t += 10
    assert w.limit_s == 30
    t += 30  # one heartbeat 40 s after the previous one
    w.saw_heartbeat(t)
    assert w.limit_s == 120
    for _ in range(9):  # regular again, but the late one is still among the last ten
        t += 10
        w.saw_heartbeat(t)
    assert w.limit_s == 120
    t += 10
    w.saw_heartbeat(t)
    assert w.limit_s == 30
    assert w.interval_s == 10


def test_limit_follows_a_device_that_slows_down_and_speeds_up_again():
    w = Watchdog(silent_limit_s=120, window=3)
    t = 0.0
    for gap in (10, 10, 25, 25, 25, 25):
        w.saw_heartbeat(t)
        t += gap
    w.saw_heartbeat(t)
    assert w.limit_s == 75
    for _ in range(3):
        t += 10
        w.saw_heartbeat(t)
    assert w.limit_s == 30


def test_due_at_moves_with_each_byte_and_the_limit():
    w = Watchdog(min_limit_s=30, silent_limit_s=120)
    assert w.due_at() is None
    w.reset(5)
    assert w.due_at() == 125
    w.saw_heartbeat(5)
    w.saw_heartbeat(15)
    w.saw_bytes(15)
    assert w.due_at() == 45
    assert not w.expired(44.9) and w.expired(45)


def test_bad_window():
    with pytest.raises(ValueError):
        Watchdog(window=0)
