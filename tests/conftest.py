"""Shared helpers for the live tests: emulated devices and change recorders."""

import socket
import threading
from typing import Any, Callable, List

import pytest

from pyhik.emulator import EmulatedDevice
from pyhik.stream.recovery import Backoff, Watchdog

WAIT_S = 5.0

# The configuration examples of the Home Assistant docs, verbatim.
DOCS_CAMERA_YAML = """
binary_sensor:
  - platform: hikvision
    host: 192.168.X.X
    port: 80
    ssl: false
    username: user
    password: pass
    customize:
      motion:
        delay: 30
      line_crossing:
        ignored: true
"""

DOCS_NVR_YAML = """
binary_sensor:
  - platform: hikvision
    host: 192.168.X.X
    port: 80
    ssl: false
    username: user
    password: pass
    customize:
      motion_1:
        delay: 30
      field_detection_2:
        ignored: true
"""


class Recorder:
    """Collects what a listener is called with; waits for a condition with a bound."""

    def __init__(self) -> None:
        self.items: List[Any] = []
        self._cond = threading.Condition()

    def __call__(self, item: Any) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[List[Any]], bool], timeout: float = WAIT_S) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.items), timeout)

    def wait_count(self, n: int, timeout: float = WAIT_S) -> bool:
        return self.wait_for(lambda items: len(items) >= n, timeout)


def can_bind_ipv6_loopback() -> bool:
    """This machine can listen on ::1 (tests of IPv6 hosts skip where it cannot)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def fast_options(**overrides: Any) -> dict:
    """HikDevice options that make reconnects and releases quick in tests."""
    options = {"backoff": Backoff(0.05, 0.2, jitter=0.0),
                   "watchdog": Watchdog(min_limit_s=1.0, silent_limit_s=1.0), "stale_s": 0.5}
    options.update(overrides)
    return options


@pytest.fixture
def emulators():
    """Factory of started emulated devices, all stopped at the end of the test."""
    started: List[EmulatedDevice] = []

    def make(*args: Any, **kwargs: Any) -> EmulatedDevice:
        kwargs.setdefault("heartbeat_s", None)
        device = EmulatedDevice(*args, **kwargs).start()
        started.append(device)
        return device

    yield make
    for device in started:
        device.stop()


@pytest.fixture
def recorder():
    return Recorder()
