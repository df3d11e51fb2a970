"""Pure tests of the sensor state machine with a fake clock."""

import logging
from datetime import datetime, timedelta

import pytest

from pyhik.protocol.alerts import Alert
from pyhik.state.book import SensorBook, SensorKey

T0 = datetime(2026, 1, 1, 12, 0, 0)


class Clock:
    """A fake clock: monotonic seconds and the matching wall time."""

    def __init__(self) -> None:
        self.now = 100.0

    @property
    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


def alert(event="VMD", state="active", channel=1, **kw):
    return Alert(event=event, state=state, channel=channel, **kw)


def apply(book, clock, *args, **kw):
    return book.apply(alert(*args, **kw), clock.now, clock.wall)


def test_motion_on_then_off(clock):
    book = SensorBook()
    book.add("VMD", 1)
    [change] = apply(book, clock)
    assert (change.old, change.new) == (False, True)
    assert change.sensor.key == SensorKey("VMD", 1)
    assert change.sensor.count == 1 and change.sensor.last_tripped == clock.wall
    clock.advance(1)
    assert apply(book, clock) == []  # refresh, no change
    clock.advance(1)
    [change] = apply(book, clock, state="inactive")
    assert (change.old, change.new) == (True, False)
    assert book.get(SensorKey("VMD", 1)).count == 1


def test_codes_match_case_insensitively_and_aliases_share(clock):
    book = SensorBook()
    book.add("tamperdetection", 1)
    [change] = apply(book, clock, event="DEFOCUS")
    assert change.sensor.key == SensorKey("tamperdetection", 1)
    assert len(book) == 1


def test_active_only_event_released_after_stale_without_traffic(clock):
    book = SensorBook(stale_s=5)
    book.add("linedetection", 2)
    apply(book, clock, event="linedetection", channel=2)
    assert book.next_deadline() == clock.now + 5
    clock.advance(4.9)
    assert book.expire(clock.now, clock.wall) == []
    clock.advance(0.2)
    [change] = book.expire(clock.now, clock.wall)
    assert change.new is False and change.sensor.key == SensorKey("linedetection", 2)
    assert book.next_deadline() is None


def test_refresh_pushes_stale_deadline(clock):
    book = SensorBook(stale_s=5)
    apply(book, clock)
    for _ in range(10):
        clock.advance(3)
        assert apply(book, clock) == []
        assert book.expire(clock.now, clock.wall) == []
    assert book.get(SensorKey("VMD", 1)).is_on


def test_hold_keeps_sensor_on_after_end(clock):
    book = SensorBook()
    book.add("VMD", 1, hold_s=30)
    apply(book, clock)
    clock.advance(2)
    assert apply(book, clock, state="inactive") == []  # held
    assert book.get(SensorKey("VMD", 1)).is_on
    assert book.next_deadline() == clock.now + 30
    clock.advance(29)
    assert book.expire(clock.now, clock.wall) == []
    clock.advance(1)
    [change] = book.expire(clock.now, clock.wall)
    assert change.new is False


def test_new_trip_inside_hold_restarts_window_when_it_ends(clock):
    book = SensorBook(stale_s=100)
    book.add("VMD", 1, hold_s=30)
    apply(book, clock)
    apply(book, clock, state="inactive")
    clock.advance(20)
    assert apply(book, clock) == []  # still on, no change
    assert book.get(SensorKey("VMD", 1)).count == 2
    clock.advance(20)  # the old window would have ended here
    assert book.expire(clock.now, clock.wall) == []
    apply(book, clock, state="inactive")
    clock.advance(29.9)
    assert book.expire(clock.now, clock.wall) == []
    clock.advance(0.2)
    assert [c.new for c in book.expire(clock.now, clock.wall)] == [False]


def test_hold_after_stale_release_counts_from_the_stale_time(clock):
    book = SensorBook(stale_s=5)
    book.add("linedetection", 1, hold_s=10)
    apply(book, clock, event="linedetection")
    clock.advance(7)  # stale at +5, hold until +15
    assert book.expire(clock.now, clock.wall) == []
    assert book.next_deadline() == pytest.approx(clock.now + 8)
    clock.advance(8)
    assert [c.new for c in book.expire(clock.now, clock.wall)] == [False]


def test_heartbeats_are_not_sensors(clock):
    book = SensorBook()
    assert apply(book, clock, event="videoloss", state="inactive", heartbeat=True) == []
    assert apply(book, clock, event="heartBeat", heartbeat=True) == []
    assert len(book) == 0


def test_video_loss_only_when_asked(clock):
    assert apply(SensorBook(), clock, event="videoloss", channel=16) == []
    book = SensorBook(track_video_loss=True)
    [change] = apply(book, clock, event="videoloss", channel=16)
    assert change.new and change.created and change.sensor.key == SensorKey("videoloss", 16)
    [change] = apply(book, clock, event="videoloss", state="inactive", channel=16, heartbeat=True)
    assert change.new is False


def test_retransmitted_alerts_change_nothing(clock):
    book = SensorBook()
    book.add("VMD", 1)
    assert apply(book, clock, retransmission=True) == []
    assert not book.get(SensorKey("VMD", 1)).is_on


def test_unknown_channel_creates_sensor_on_the_fly(clock, caplog):
    caplog.set_level(logging.INFO, logger="pyhik")
    book = SensorBook()
    book.add("VMD", 1)
    [change] = apply(book, clock, event="linedetection", channel=2)
    assert change.created and change.new
    assert "not in the device's trigger list" in caplog.text
    assert [s.key for s in book.states()] == [SensorKey("VMD", 1), SensorKey("linedetection", 2)]
    caplog.clear()
    apply(book, clock, event="linedetection", channel=2, state="inactive")
    assert caplog.text == ""


def test_inactive_for_unknown_sensor_creates_it_off(clock):
    book = SensorBook()
    [change] = apply(book, clock, state="inactive", channel=3)
    assert change.created and (change.old, change.new) == (False, False)


def test_ignored_sensor_drops_alerts(clock):
    book = SensorBook()
    book.add("VMD", 1)
    book.ignore("linedetection", 1)
    assert apply(book, clock, event="linedetection") == []
    assert len(book) == 1


def test_io_sensors_keyed_by_port(clock):
    book = SensorBook()
    [change] = apply(book, clock, event="IO", channel=None, io_port=2)
    assert change.sensor.key == SensorKey("IO", 2)
    [change] = apply(book, clock, event="io", channel=1, io_port=None)
    assert change.sensor.key == SensorKey("IO", 1)


def test_device_level_events_use_channel_one(clock):
    book = SensorBook()
    book.add("diskfull", 0)
    [change] = apply(book, clock, event="diskfull", channel=None)
    assert change.sensor.key == SensorKey("diskfull", 1)


def test_target_kept(clock):
    book = SensorBook()
    [change] = apply(book, clock, event="fielddetection", target="human")
    assert change.sensor.target == "human"
    clock.advance(1)
    apply(book, clock, event="fielddetection", state="inactive")
    assert book.states()[0].target == "human"


def test_release_all_turns_everything_off_including_holds(clock):
    book = SensorBook()
    book.add("VMD", 1, hold_s=30)
    book.add("VMD", 2)
    apply(book, clock, channel=1)
    apply(book, clock, channel=2)
    changes = book.release_all(clock.wall)
    assert sorted(c.sensor.key.channel for c in changes) == [1, 2]
    assert book.next_deadline() is None
    assert not any(s.is_on for s in book.states())


def test_bad_parameters():
    with pytest.raises(ValueError):
        SensorBook(stale_s=0)
    book = SensorBook()
    book.add("VMD", 1)
    with pytest.raises(ValueError):
        book.set_hold(SensorKey("VMD", 1), -1)


def test_replay_of_real_camera_sequence_ends_all_off(clock):
    """The HikSink camera capture, applied in order one second apart, leaves no sensor stuck."""
    import json
    from pathlib import Path

    from pyhik.protocol.alerts import parse_alert

    path = Path(__file__).parent / "fixtures" / "streams" / "hiksink-cam_alert_sequence.jsonl"
    book = SensorBook()
    trips = 0
    for line in path.read_text().splitlines():
        parsed = parse_alert(json.loads(line)["content"].encode())
        assert parsed is not None
        clock.advance(1)
        book.expire(clock.now, clock.wall)
        trips += sum(1 for c in book.apply(parsed, clock.now, clock.wall) if c.new)
    clock.advance(10)
    book.expire(clock.now, clock.wall)
    assert trips > 5
    assert {s.key.code for s in book.states()} >= {"VMD", "linedetection"}
    assert not any(s.is_on for s in book.states())


def test_hold_preset_before_sensor_exists_applies_on_the_fly(clock):
    book = SensorBook()
    book.set_hold(SensorKey("linedetection", 1), 10)
    [change] = apply(book, clock, event="linedetection")
    assert change.created and change.sensor.hold_s == 10
    assert apply(book, clock, event="linedetection", state="inactive") == []
    clock.advance(10)
    assert [c.new for c in book.expire(clock.now, clock.wall)] == [False]


def test_overdue_stale_end_is_applied_before_a_late_alert(clock):
    """The result must not depend on whether the timer ran before the next alert."""
    book = SensorBook(stale_s=5)
    book.add("VMD", 1)
    apply(book, clock)
    clock.advance(7)  # stale at +5, but the timer has not run
    changes = apply(book, clock)
    assert [(c.old, c.new) for c in changes] == [(True, False), (False, True)]
    assert book.get(SensorKey("VMD", 1)).count == 2
