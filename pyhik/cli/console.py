"""Prints sensors and changes, and runs a set of devices for ``watch`` and ``demo``.

The command line's side of a running device: start all or none, print their sensors,
report a lost or restored alert stream once (a line beside the sensor changes, not a log
line as well), stop them all in parallel.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterable, List, Optional, Sequence, Set, TextIO

from pyhik.stream.watcher import CONNECTION_LOGGER

__all__ = ["FIRST_CONNECT_S", "Printer", "start_hubs", "stop_hubs", "wait_until",
           "run_with_signals"]

FIRST_CONNECT_S = 10.0
"""How long ``watch`` waits for each alert stream to open before it just goes on; a
refused login or a missing permission seen in that time ends it with an error."""
_POLL_S = 0.05
_LOGGER = logging.getLogger(__name__)


class Printer:
    """Prints sensor lists and changes, plain or as JSON lines; thread-safe."""

    def __init__(self, as_json: bool, out: Optional[TextIO] = None, *,
                 closed: Optional[threading.Event] = None) -> None:
        self.as_json = as_json
        self.out = out
        """Where to print; None: whatever ``sys.stdout`` is at the time."""
        self._lock = threading.Lock()
        self.closed = closed or threading.Event()
        """Set when the reader went away (``pyhik watch | head``): time to exit quietly."""

    def line(self, text: str) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            try:
                print(text, file=self.out or sys.stdout, flush=True)
            except BrokenPipeError:
                self.closed.set()
                # Python would report the broken pipe again when it flushes at exit.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())

    def note(self, text: str) -> None:
        """Narration: plain mode only (JSON mode prints nothing but sensor objects)."""
        if not self.as_json:
            self.line(text)

    def print_sensors(self, hub: Any) -> None:
        """A device's line and one line (or JSON object) per sensor."""
        if not self.as_json:
            kind = "NVR" if hub.profile.is_nvr else "camera"
            info = hub.profile.info
            self.line(f"{hub.name} ({kind} {info.model if info else ''}, "
                      f"{hub.device.client.base_url}): {len(hub.sensors)} sensor"
                      f"{'' if len(hub.sensors) == 1 else 's'}")
        for sensor in hub.sensors:
            if self.as_json:
                self.line(json.dumps(sensor.as_dict()))
            else:
                extra = f", delay {sensor.as_dict()['delay']} s" if sensor.delay else ""
                self.line(f"  {sensor.entity_id:<45} {sensor.state:<3}  "
                          f"({sensor.device_class or 'no class'}{extra})")

    def print_change(self, change: Any) -> None:
        """One sensor change: a line, or the sensor as a JSON object."""
        if self.as_json:
            self.line(json.dumps(change.as_dict()))
        else:
            new = "  (new sensor: no trigger announced it)" if change.created else ""
            self.line(f"{change.time.strftime('%H:%M:%S')}  {change.sensor.entity_id:<45} "
                      f"{'on' if change.new else 'off'}{new}")


def start_hubs(configs: Iterable[Any], printer: Printer, *, first_connect_s: float = 0.0,
               stop: Optional[threading.Event] = None, **device_options: Any) -> List[Any]:
    """Set up every device (all or none), print their sensors, start their streams.

    With ``first_connect_s``, wait up to that long for every stream to open, and raise the
    error of a stream refused for good (wrong password, missing permission).
    """
    from pyhik.sensors.entities import DeviceSensors

    hubs: List[Any] = []
    try:
        for config in configs:
            hub = DeviceSensors(config, **device_options)
            hubs.append(hub)
            hub.setup()
        _warn_shared_entity_ids(hubs)
        for hub in hubs:
            printer.print_sensors(hub)
            hub.add_listener(printer.print_change)
            _report_connection(printer, hub)
        with _QuietStreamErrors() if first_connect_s > 0 else contextlib.nullcontext():
            for hub in hubs:
                hub.start()
            if first_connect_s > 0:
                _await_streams(hubs, first_connect_s, stop or threading.Event())
    except BaseException:
        stop_hubs(hubs)
        raise
    return hubs


def _warn_shared_entity_ids(hubs: Sequence[Any]) -> None:
    seen: dict = {}
    for hub in hubs:
        for sensor in hub.sensors:
            other = seen.setdefault(sensor.entity_id, hub)
            if other is not hub:
                _LOGGER.warning(
                    "%s and %s both give %s: set a different 'name' for one of them",
                    other.config.host, hub.config.host, sensor.entity_id)


def _await_streams(hubs: Sequence[Any], timeout_s: float, stop: threading.Event) -> None:
    """Wait until each stream is open; raise a login or permission refusal at once."""
    from pyhik.errors import AuthenticationError, PermissionDeniedError

    deadline = time.monotonic() + timeout_s
    pending = list(hubs)
    while pending and not stop.is_set() and time.monotonic() < deadline:
        for hub in list(pending):
            error = hub.device.watcher.last_error
            if hub.connected:
                pending.remove(hub)
            elif isinstance(error, (AuthenticationError, PermissionDeniedError)):
                raise error
        stop.wait(_POLL_S)


class _QuietStreamErrors(logging.Filter):
    """While ``watch`` starts, the stream's refused login or permission is not logged: the
    command reports that error itself, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR

    def __enter__(self) -> "_QuietStreamErrors":
        CONNECTION_LOGGER.addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        CONNECTION_LOGGER.removeFilter(self)


class _PrintedConnections(logging.Filter):
    """While hubs whose connection changes are printed run, the stream's own connected /
    lost / restored log lines (below ERROR) are not logged: they would say it twice."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._hubs: Set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    def add(self, hub: Any) -> None:
        with self._lock:
            self._hubs.add(id(hub))
            CONNECTION_LOGGER.addFilter(self)  # once: addFilter dedupes

    def discard(self, hub: Any) -> None:
        with self._lock:
            self._hubs.discard(id(hub))
            if not self._hubs:
                CONNECTION_LOGGER.removeFilter(self)


_PRINTED_CONNECTIONS = _PrintedConnections()


def _report_connection(printer: Printer, hub: Any) -> None:
    """Print "connected", then "lost (why), reconnecting" and "restored", once each time."""
    watcher = hub.device.watcher
    if not printer.as_json:  # JSON lines carry sensors only: the log line reports it there
        _PRINTED_CONNECTIONS.add(hub)
    ever = threading.Event()

    def report(up: bool) -> None:
        if up:
            printer.note(f"{hub.name}: alert stream {'restored' if ever.is_set() else 'connected'}")
            ever.set()
        else:
            why = watcher.loss_reason
            printer.note(f"{hub.name}: alert stream lost{f' ({why})' if why else ''}, reconnecting")

    hub.add_connection_listener(report)


def stop_hubs(hubs: Iterable[Any]) -> None:
    hubs = list(hubs)
    for hub in hubs:
        _PRINTED_CONNECTIONS.discard(hub)
    threads = [threading.Thread(target=hub.close, daemon=True) for hub in hubs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2.0)


def wait_until(deadline: Optional[float], stop: Optional[threading.Event] = None) -> None:
    """Sleep until the deadline (None: forever) or until stop is set; Ctrl-C ends it."""
    stop = stop or threading.Event()
    while not stop.is_set():
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return
        stop.wait(0.5 if remaining is None else min(0.5, remaining))


def run_with_signals(body: Callable[[threading.Event], int]) -> int:
    """Run body(stop_event); SIGTERM sets the event, SIGINT raises KeyboardInterrupt."""
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return body(stop)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
