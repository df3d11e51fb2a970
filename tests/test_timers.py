import threading

from pyhik.timers import Scheduler


def test_runs_callback_at_deadline_on_named_thread():
    sched = Scheduler(name="pyhik-timers-test")
    done = threading.Event()
    names = []

    def fire():
        names.append(threading.current_thread().name)
        done.set()

    import time
    sched.schedule("a", time.monotonic() + 0.01, fire)
    assert done.wait(5)
    assert names == ["pyhik-timers-test"]
    assert sched.pending("a") is None


def test_reschedule_replaces_and_none_cancels():
    import time
    sched = Scheduler()
    fired = []
    first = threading.Event()
    sched.schedule("a", time.monotonic() + 60, lambda: fired.append("late"))
    sched.schedule("a", time.monotonic() + 0.01, lambda: (fired.append("early"), first.set()))
    assert first.wait(5)
    sched.schedule("b", time.monotonic() + 0.01, lambda: fired.append("b"))
    sched.cancel("b")
    done = threading.Event()
    sched.schedule("c", time.monotonic() + 0.05, done.set)
    assert done.wait(5)
    assert fired == ["early"]


def test_order_of_deadlines_and_raising_callback(caplog):
    import time
    sched = Scheduler()
    order = []
    done = threading.Event()
    now = time.monotonic()

    def boom():
        order.append("boom")
        raise RuntimeError("x")

    sched.schedule("z", now + 0.06, lambda: (order.append("z"), done.set()))
    sched.schedule("y", now + 0.02, boom)
    sched.schedule("x", now + 0.01, lambda: order.append("x"))
    assert done.wait(5)
    assert order == ["x", "boom", "z"]
    assert "timer callback failed" in caplog.text


def test_fake_clock_due_entries_run_immediately():
    sched = Scheduler(clock=lambda: 1000.0)
    done = threading.Event()
    sched.schedule("a", 5.0, done.set)
    assert done.wait(5)


def test_refreshing_a_deadline_keeps_one_heap_entry():
    import time
    sched = Scheduler()
    done = threading.Event()
    now = time.monotonic()
    for i in range(1000):  # every refreshing alert moves the deadline later
        sched.schedule("dev", now + 0.05 + i * 0.0001, done.set)
    assert len(sched) == 1
    assert sched.pending("dev") == now + 0.05 + 999 * 0.0001
    assert done.wait(5)


def test_deadline_moved_later_fires_at_the_later_time():
    clock = [0.0]
    sched = Scheduler(clock=lambda: clock[0])
    fired = threading.Event()
    sched.schedule("a", 1.0, fired.set)
    sched.schedule("a", 100.0, fired.set)  # later: re-armed when the 1.0 entry comes due
    clock[0] = 2.0
    sched.schedule("b", 1.5, lambda: None)  # wakes the thread past 1.0
    assert not fired.wait(0.2)
    clock[0] = 100.0
    sched.schedule("c", 0.0, lambda: None)
    assert fired.wait(5)


def test_earlier_deadline_wins():
    clock = [0.0]
    sched = Scheduler(clock=lambda: clock[0])
    fired = threading.Event()
    sched.schedule("a", 100.0, lambda: None)
    sched.schedule("a", 1.0, fired.set)
    clock[0] = 1.0
    sched.schedule("z", 0.5, lambda: None)
    assert fired.wait(5)
    assert sched.pending("a") is None
