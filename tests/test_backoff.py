import pytest

from pyhik.stream.recovery import Backoff


def test_doubles_to_cap_without_jitter():
    b = Backoff(1, 60, jitter=0)
    assert [b.next_delay() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_reset_starts_again():
    b = Backoff(1, 60, jitter=0)
    for _ in range(5):
        b.next_delay()
    b.reset()
    assert b.next_delay() == 1


@pytest.mark.parametrize("r", [0.0, 0.5, 0.999])
def test_jitter_stays_within_spread_and_cap(r):
    b = Backoff(1, 60, jitter=0.2, rand=lambda: r)
    delays = [b.next_delay() for _ in range(12)]
    assert delays[0] == pytest.approx(1 + 0.2 * (2 * r - 1))
    assert all(0 <= d <= 60 for d in delays)


def test_many_attempts_do_not_overflow():
    b = Backoff(1, 60, jitter=0)
    for _ in range(10_000):
        assert b.next_delay() <= 60


def test_bad_parameters():
    with pytest.raises(ValueError):
        Backoff(0, 60)
    with pytest.raises(ValueError):
        Backoff(10, 5)
