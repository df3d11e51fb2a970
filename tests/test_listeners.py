"""The callback lists of a device: order, removal, and a dispatch that is not disturbed."""

from pyhik.stream.listeners import Listeners


def test_listeners_keep_order_and_remove_every_registration():
    calls = []
    first, second = (lambda x: calls.append(("first", x))), (lambda x: calls.append(("second", x)))
    listeners = Listeners()
    for listener in (first, second, first):
        listeners.add(listener)
    for listener in listeners:
        listener(1)
    assert calls == [("first", 1), ("second", 1), ("first", 1)]
    listeners.remove(first)
    listeners.remove(first)  # unknown now: a no-op
    assert list(listeners) == [second] and len(listeners) == 1


def test_a_dispatch_in_progress_keeps_the_list_it_started_with():
    calls = []
    listeners = Listeners()

    def remover(x):
        calls.append("remover")
        listeners.remove(later)
        listeners.add(added)

    def later(x):
        calls.append("later")

    def added(x):
        calls.append("added")

    listeners.add(remover)
    listeners.add(later)
    for listener in listeners:
        listener(0)
    assert calls == ["remover", "later"]
    assert list(listeners) == [remover, added]
