import pytest

from pyhik.watchdog import Watchdog


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
