"""Chaos soak: emulated devices with random faults, and an exact account of every transition.

    python3 bench/soak.py                # ten devices, ten minutes
    python3 bench/soak.py --minutes 1    # a quick run
    options: --devices N, --seed N, --log FILE (library DEBUG log), --dump FILE (raw
    logs of both sides as JSON), --tracemalloc (the client's allocation growth)

Layout. The emulated devices, the scripted alert players and the fault injector run in a
child process (multiprocessing, spawn); this process holds only the clients, one
``pyhik.stream.device.HikDevice`` per device, so the thread count and RSS printed are the
client's own. Both processes stamp events with ``time.monotonic()``, which on Linux is
one system-wide clock (CLOCK_MONOTONIC), so the two logs can be compared directly.

Players. Each device has two players, one for VMD and one for line crossing, each
playing ``active`` then ``inactive`` on a random channel, the pair closer together than
``stale_s`` so no event is released as stale unless a fault delays it. Every alert
carries its own activePostCount, so (event, channel, state, count) names exactly one
alert: the one the device logged in ``EmulatedDevice.sent`` and the one the client's
alert listener saw.

Faults (one at a time per device, a random 3-12 s apart): ``drop_mid_part`` (half an
alert part, then the connection is cut), ``stall`` (no bytes at all for 0.3-6 s; the
client's watchdog cuts it after about 4 s), ``garbage`` (random bytes and broken parts
between parts), ``jpeg`` (an image part), ``wrong_password`` (the device's password
changes and every stream is cut, for 1-4 s), ``restart`` (the device goes away for
0.2-2 s). The four that cut the stream open a fault window, from 0.1 s before the fault
(an alert queued but not written yet goes down with the stream) until the client is
connected again; a loss inside a window is accounted for. Garbage and JPEG parts must
lose nothing and cut nothing: they open no window.

Client transitions are classified by where they come from: an alert (matched to the sent
alert by its id), a loss (the watcher released a sensor that was on when the stream
ended: "released on loss", expected), or the timer (a stale release). Failures (exit 1):
any lost, spurious or duplicated transition, a disconnect outside a fault window, an
exception logged by the library, a sensor still on at the end, or thread / RSS growth.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import gc
import json
import logging
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import weakref
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyhik.emulator import EmulatedDevice  # noqa: E402
from pyhik.emulator import parts as emu_parts  # noqa: E402
from pyhik.protocol import events  # noqa: E402
from pyhik.state.book import sensor_channel  # noqa: E402
from pyhik.stream.device import HikDevice  # noqa: E402
from pyhik.stream.recovery import (
    Backoff,  # noqa: E402
    Watchdog,  # noqa: E402
)

# -- settings ---------------------------------------------------------------------------
HEARTBEAT_S = 0.5
STALE_S = 2.0
WATCHDOG_MIN_LIMIT_S = 2.0
WATCHDOG_SILENT_LIMIT_S = 4.0
BACKOFF_INITIAL_S = 0.05
BACKOFF_MAX_S = 1.0
AUTH_RETRY_S = 1.0
EPISODE_S = (0.05, 1.0)      # active -> inactive; must stay well under STALE_S
EPISODE_GAP_S = (0.05, 0.6)  # inactive -> next active
FAULT_GAP_S = (3.0, 12.0)
STALL_S = (0.3, 6.0)
WRONG_PASSWORD_S = (1.0, 4.0)
RESTART_DOWN_S = (0.2, 2.0)
JPEG_BYTES = (1000, 400_000)
WINDOW_MARGIN_S = 0.25       # after the client is back: bytes already in flight land
WINDOW_LEAD_S = 0.1          # before a cutting fault: bytes queued but not written yet
SETTLE_S = 2.0               # after the players stopped, before the end figures
CONNECT_WAIT_S = 15.0
RSS_GROWTH_LIMIT_BYTES = 8 << 20
RSS_GROWTH_LIMIT_RATIO = 0.10
NVR_CHANNELS = 4

PLAYER_EVENTS = ("VMD", "linedetection")
CUT_EVENT = "fielddetection"  # only the alerts cut by drop_mid_part use it
CUT_COUNT_BASE = 800_000_000
FORMATS = ("xml", "xml-oneline", "json")
FAULTS = ("drop_mid_part", "stall", "garbage", "jpeg", "wrong_password", "restart")
CUTTING_FAULTS = frozenset({"drop_mid_part", "stall", "wrong_password", "restart"})

AlertId = Tuple[str, int, str, int]  # (canonical event code, channel, state, count)


def code_of(event: str) -> str:
    etype = events.lookup(event)
    return etype.code if etype is not None else event


@dataclass(frozen=True)
class Plan:
    devices: int
    seconds: float
    seed: int


# == the device side (child process) ====================================================
class _DeviceSide:
    """Emulators, players and fault injectors of one soak run."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.stop = threading.Event()
        self.emus: List[EmulatedDevice] = []
        self.passwords: List[str] = []
        self.faults: List[Tuple[int, str, float, float, str]] = []
        self.cuts: List[Tuple[int, float, int]] = []
        self._lock = threading.Lock()
        for i in range(plan.devices):
            nvr = i % 3 == 2
            password = f"soak-{i}-pw"
            self.passwords.append(password)
            self.emus.append(EmulatedDevice(
                f"Soak {i}", kind="nvr" if nvr else "camera",
                channels=NVR_CHANNELS if nvr else 1, password=password,
                heartbeat_s=HEARTBEAT_S).start())

    def specs(self) -> List[Tuple[int, str, int, str]]:
        return [(e.port, e.kind, e.channels, pw) for e, pw in zip(self.emus, self.passwords)]

    def run(self, seconds: float, control: Any) -> None:
        threads = []
        for i, emu in enumerate(self.emus):
            for k, event in enumerate(PLAYER_EVENTS):
                rnd = random.Random(f"{self.plan.seed}-{i}-{k}")
                threads.append(threading.Thread(target=self._player, args=(emu, event, rnd),
                                                name=f"player-{i}-{event}", daemon=True))
            rnd = random.Random(f"{self.plan.seed}-{i}-faults")
            threads.append(threading.Thread(target=self._injector, args=(i, rnd),
                                            name=f"faults-{i}", daemon=True))
        for thread in threads:
            thread.start()
        control.poll(seconds)  # the client side may ask to end early
        self.stop.set()
        for thread in threads:
            thread.join()

    def _player(self, emu: EmulatedDevice, event: str, rnd: random.Random) -> None:
        counts: Dict[int, int] = collections.Counter()
        while not self.stop.is_set():
            channel = rnd.randint(1, emu.channels)
            counts[channel] += 1
            fmt = rnd.choice(FORMATS)
            emu.push(event, "active", channel, count=counts[channel], fmt=fmt)
            time.sleep(rnd.uniform(*EPISODE_S))
            emu.push(event, "inactive", channel, count=counts[channel], fmt=fmt)
            self.stop.wait(rnd.uniform(*EPISODE_GAP_S))

    def _injector(self, index: int, rnd: random.Random) -> None:
        emu = self.emus[index]
        while not self.stop.wait(rnd.uniform(*FAULT_GAP_S)):
            kind = rnd.choice(FAULTS)
            start = time.monotonic()
            detail = getattr(self, "_" + kind)(index, emu, rnd)
            with self._lock:
                self.faults.append((index, kind, start, time.monotonic(), detail))

    # -- the faults; each returns a short description ------------------------------------
    def _drop_mid_part(self, index: int, emu: EmulatedDevice, rnd: random.Random) -> str:
        with self._lock:
            count = CUT_COUNT_BASE + len(self.cuts)
        ident = emu.identity
        body, ctype = emu_parts.render_alert(emu_parts.AlertFields(
            event=CUT_EVENT, state="active", channel=1, io_port=None, count=count,
            description="fieldDetection alarm", channel_name=ident.channel_name(1),
            ip=emu.host, port=emu.port, mac=ident.mac, serial=ident.serial, nvr=ident.is_nvr),
            rnd.choice(FORMATS))
        framed = emu_parts.frame_part(body, ctype, emu.boundary)
        # Cut anywhere from the delimiter to 30 bytes before the body's end: never a whole body.
        cut = rnd.randint(1, len(framed) - 32)
        with self._lock:
            self.cuts.append((index, time.monotonic(), count))
        emu.push_raw(framed[:cut])
        time.sleep(0.05)  # let the half reach the client's framer
        emu.drop()
        return f"cut at {cut}/{len(framed)}"

    def _stall(self, index: int, emu: EmulatedDevice, rnd: random.Random) -> str:
        seconds = rnd.uniform(*STALL_S)
        emu.stall()
        time.sleep(seconds)
        emu.resume()
        return f"{seconds:.1f} s"

    def _garbage(self, index: int, emu: EmulatedDevice, rnd: random.Random) -> str:
        chosen = rnd.sample(range(len(GARBAGE)), rnd.randint(1, 3))
        for which in chosen:
            for piece in GARBAGE[which](rnd, emu.boundary):
                emu.push_raw(piece)
        return "+".join(GARBAGE[w].__name__.lstrip("_") for w in chosen)

    def _jpeg(self, index: int, emu: EmulatedDevice, rnd: random.Random) -> str:
        size = rnd.randint(*JPEG_BYTES)
        emu.push_jpeg(size)
        return f"{size} bytes"

    def _wrong_password(self, index: int, emu: EmulatedDevice, rnd: random.Random) -> str:
        seconds = rnd.uniform(*WRONG_PASSWORD_S)
        emu.set_password(self.passwords[index] + "-changed")
        emu.drop()
        time.sleep(seconds)
        emu.set_password(self.passwords[index])
        return f"{seconds:.1f} s"

    def _restart(self, index: int, emu: EmulatedDevice, rnd: random.Random) -> str:
        down = rnd.uniform(*RESTART_DOWN_S)
        emu.restart(down)
        return f"down {down:.1f} s"

    def logs(self) -> Dict[str, Any]:
        return {"sent": [list(e.sent) for e in self.emus], "faults": list(self.faults),
                "cuts": list(self.cuts), "streams_opened": [e.streams_opened for e in self.emus],
                "auth_failures": [e.auth_failures for e in self.emus],
                "threads": threading.active_count(), "rss": rss_bytes()}

    def close(self) -> None:
        for emu in self.emus:
            emu.stop()


# Garbage between parts: each gives the pieces (one chunk each) of one kind of junk.
def _random_bytes(rnd: random.Random, boundary: str) -> List[bytes]:
    return [rnd.randbytes(rnd.randint(1, 32768)) for _ in range(rnd.randint(1, 3))]


def _text_noise(rnd: random.Random, boundary: str) -> List[bytes]:
    bits = [b"\r\n", b"\n", b"Content-Length: 99999\r\n", b"Content-Type: image/jpeg\r\n",
            b"<EventNotificationAlert>", b"</EventNotificationAlert>", b'{"eventType": ',
            b"<?xml version='1.0'?>", b"--" + boundary.encode()[:-1], b"x" * 300, b" " * 40]
    return [b"".join(rnd.choice(bits) for _ in range(rnd.randint(1, 60)))]


def _closing_delimiter(rnd: random.Random, boundary: str) -> List[bytes]:
    return [b"--" + boundary.encode() + b"--\r\nepilogue " + rnd.randbytes(64) + b"\r\n"]


def _not_alert_parts(rnd: random.Random, boundary: str) -> List[bytes]:
    bodies = [b'<?xml version="1.0"?><ResponseStatus><statusCode>4</statusCode></ResponseStatus>',
              b'{"Alert": "not really", "statusCode": 1}', b"<?xml version='1.0'?>",
              b"<EventNotificationAlert><eventType>", rnd.randbytes(200),
              b"<Other><eventType>VMD</eventType></Other>"]
    out = []
    for body in rnd.sample(bodies, rnd.randint(1, len(bodies))):
        ctype = rnd.choice(["application/xml", "application/json", "text/plain", ""])
        length = len(body) + rnd.choice([0, 0, -5, 7])
        head = f"--{boundary}\r\n" + (f"Content-Type: {ctype}\r\n" if ctype else "") + \
            f"Content-Length: {max(0, length)}\r\n\r\n"
        out.append(head.encode() + body + b"\r\n")
    return out


def _split_binary_part(rnd: random.Random, boundary: str) -> List[bytes]:
    data = rnd.randbytes(rnd.randint(100, 20000))
    framed = f"--{boundary}\r\nContent-Type: application/octet-stream\r\n" \
             f"Content-Length: {len(data)}\r\n\r\n".encode() + data + b"\r\n"
    cut = rnd.randint(1, len(framed) - 1)
    return [framed[:cut], framed[cut:]]


GARBAGE = (_random_bytes, _text_noise, _closing_delimiter, _not_alert_parts, _split_binary_part)


def device_main(control: Any, plan: Plan) -> None:
    """Entry point of the child process."""
    logging.basicConfig(level=logging.ERROR)
    side = _DeviceSide(plan)
    try:
        control.send(("ready", side.specs()))
        if control.recv()[0] != "go":
            return
        side.run(plan.seconds, control)
        control.send(("quiet", time.monotonic()))
        if control.recv()[0] != "collect":
            return
        control.send(("logs", side.logs()))
        control.recv()  # "stop"
    except (EOFError, OSError):
        pass
    finally:
        side.close()


# == the client side (this process) =====================================================
def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak is the best there is
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Spool:
    """Client-side records go to a file, so recording does not grow this process."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.lock = threading.Lock()

    def write(self, *fields: Any) -> None:
        line = "\t".join(map(str, fields)) + "\n"
        with self.lock:
            self.file.write(line)

    def read(self) -> List[List[str]]:
        with self.lock:
            self.file.flush()
            self.file.seek(0)
            return [line.rstrip("\n").split("\t") for line in self.file]


class Tap:
    """Listeners of one client: alerts, changes (with their cause) and connection events."""

    def __init__(self, index: int, spool: Spool) -> None:
        self.index = index
        self.spool = spool
        self.current: Optional[List[Any]] = None  # [alert id, consumed] on the stream thread
        # Changes the book's clock made (stale ends, holds over): the device's own thread
        # dispatches them, as it does alert changes and releases on loss.
        self.expired: "weakref.WeakValueDictionary[int, Any]" = weakref.WeakValueDictionary()

    def watch_expiries(self, device: HikDevice) -> None:
        """Mark the changes that ``device.book.expire`` returns, before they are dispatched."""
        expire = device.book.expire

        def expire_marked(now: float, wall: Any) -> List[Any]:
            changes = expire(now, wall)
            self.expired.update((id(change), change) for change in changes)
            return changes
        device.book.expire = expire_marked  # type: ignore[method-assign]

    def on_alert(self, alert: Any) -> None:
        if alert.heartbeat:
            self.current = None
            return
        etype = alert.event_type
        aid = (etype.code, sensor_channel(alert, etype), alert.state, alert.count)
        self.current = [aid, False]
        self.spool.write("A", self.index, time.monotonic(), *aid)

    def on_change(self, change: Any) -> None:
        if change.old == change.new:
            return  # a sensor created off by an alert: not a transition
        now = time.monotonic()
        key = change.sensor.key
        aid: Any = ("-", 0, "-", -1)
        if self.expired.get(id(change)) is change:
            cause = "stale"
        else:
            cur = self.current
            same = cur is not None and not cur[1] and cur[0][:2] == (key.code, key.channel)
            if same and (cur[0][2] == "active") == change.new:
                cause, aid, cur[1] = "alert", cur[0], True
            elif same and not change.new:
                cause = "stale"  # apply() ran the sensor's due stale end before the active
            else:
                cause = "loss"
        self.spool.write("C", self.index, now, key.code, key.channel, int(change.new), cause, *aid)

    def on_connection(self, connected: bool) -> None:
        self.spool.write("N", self.index, time.monotonic(), int(connected))


class LogCounter(logging.Handler):
    """Counts library log records (by level and message) and those carrying a traceback."""

    def __init__(self, path: Optional[str]) -> None:
        super().__init__(logging.DEBUG if path else logging.INFO)
        self.by_msg: Dict[Tuple[str, str], int] = collections.Counter()
        self.tracebacks: List[str] = []
        self.file = open(path, "w", encoding="utf-8") if path else None

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.by_msg[(record.levelname, str(record.msg))] += 1
        if record.exc_info and len(self.tracebacks) < 5:
            self.tracebacks.append(self.format(record))
        elif record.exc_info:
            self.tracebacks.append("")
        if self.file is not None:
            self.file.write(self.format(record) + "\n")


def make_client(port: int, password: str) -> HikDevice:
    device = HikDevice("127.0.0.1", port, "admin", password, stale_s=STALE_S,
                       backoff=Backoff(BACKOFF_INITIAL_S, BACKOFF_MAX_S, jitter=0.2),
                       watchdog=Watchdog(min_limit_s=WATCHDOG_MIN_LIMIT_S,
                                         silent_limit_s=WATCHDOG_SILENT_LIMIT_S),
                       auth_retry_s=AUTH_RETRY_S)
    device.connect()
    return device


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def measure() -> Tuple[int, int, List[str]]:
    gc.collect()
    names = sorted(t.name for t in threading.enumerate())
    return len(names), rss_bytes(), names


# == accounting ==========================================================================
@dataclass
class Window:
    device: int
    kind: str
    start: float
    end: float
    detail: str


def fault_windows(faults: Sequence[Tuple[int, str, float, float, str]],
                  conn_events: Dict[int, List[Tuple[float, bool]]]) -> List[Window]:
    """One window per fault; a cutting fault's lasts until the client is connected again."""
    windows = []
    for device, kind, start, end, detail in faults:
        stop = end + WINDOW_MARGIN_S
        if kind in CUTTING_FAULTS:
            evts = conn_events.get(device, [])
            changed = True
            while changed:  # follow every disconnect inside the window to its reconnect
                changed = False
                for i, (t, up) in enumerate(evts):
                    if not up and start <= t <= stop:
                        back = next((u for u, ok in evts[i + 1:] if ok), None)
                        new_stop = (back if back is not None else float("inf")) + WINDOW_MARGIN_S
                        if new_stop > stop:
                            stop, changed = new_stop, True
        if kind in CUTTING_FAULTS:
            # An alert queued just before the fault may still wait for its write: a stall
            # holds it and a cut loses it, although it was logged before the fault began.
            start -= WINDOW_LEAD_S
        windows.append(Window(device, kind, start, stop, detail))
    return windows


def in_window(windows: Sequence[Window], t: float) -> Optional[Window]:
    for window in windows:
        if window.kind in CUTTING_FAULTS and window.start <= t <= window.end:
            return window
    return None


def _already(history: Tuple[List[float], List[bool]], t: float, on: bool) -> bool:
    """Whether the client's sensor was ``on`` at ``t`` (or just after: a timer release may
    land between the alert listener and the apply)."""
    times, values = history
    for when in (t, t + 0.05):
        i = bisect.bisect_right(times, when)
        if (values[i - 1] if i else False) == on:
            return True
    return False


def _alert_id(fields: Sequence[str]) -> AlertId:
    code, channel, state, count = fields
    return code, int(channel), state, int(count) if count != "None" else -1


def account(logs: Dict[str, Any], records: List[List[str]], t_go: float) -> Dict[str, Any]:
    """Compare what the devices sent with what the clients' listeners saw."""
    res: Dict[str, Any] = collections.defaultdict(int)
    per_fault: Dict[str, Dict[str, int]] = {k: collections.Counter() for k in FAULTS}
    problems: List[str] = []
    received: Dict[Tuple[int, AlertId], List[float]] = collections.defaultdict(list)
    caused: Dict[Tuple[int, AlertId], int] = collections.Counter()
    changes: Dict[int, List[Tuple[float, str, int, bool, str, AlertId]]] = \
        collections.defaultdict(list)
    conn: Dict[int, List[Tuple[float, bool]]] = collections.defaultdict(list)
    for rec in records:
        dev, t = int(rec[1]), float(rec[2])
        if rec[0] == "A":
            received[(dev, _alert_id(rec[3:7]))].append(t)
        elif rec[0] == "C":
            aid = _alert_id(rec[7:11])
            changes[dev].append((t, rec[3], int(rec[4]), rec[5] == "1", rec[6], aid))
            if rec[6] == "alert":
                caused[(dev, aid)] += 1
        elif rec[0] == "N":
            conn[dev].append((t, rec[3] == "1"))
    windows = fault_windows(logs["faults"], conn)
    by_dev: Dict[int, List[Window]] = collections.defaultdict(list)
    for window in windows:
        by_dev[window.device].append(window)
        per_fault[window.kind]["faults"] += 1

    # The client's view of each sensor: change times and values, in order.
    states: Dict[Tuple[int, Tuple[str, int]], Tuple[List[float], List[bool]]] = {}
    for dev, items in changes.items():
        for t, code, channel, new, _cause, _aid in sorted(items):
            times, values = states.setdefault((dev, (code, channel)), ([], []))
            times.append(t)
            values.append(new)

    # Every alert the devices sent, by its id.
    sent_ids = set()
    latencies = []
    for dev, sent in enumerate(logs["sent"]):
        index: Dict[Tuple[str, int], int] = collections.Counter()
        for s in sent:
            key = (code_of(s.event), s.channel or s.io_port or 1)
            count = index[key] // 2 + 1
            expected_state = "active" if index[key] % 2 == 0 else "inactive"
            index[key] += 1
            if s.state != expected_state:
                problems.append(f"device {dev}: {key} sent {s.state} out of turn")
            aid = (key[0], key[1], s.state, count)
            sent_ids.add((dev, aid))
            res["sent"] += 1
            res["sent_no_stream"] += s.delivered_to == 0
            got = received.get((dev, aid), [])
            window = in_window(by_dev[dev], s.time)
            if len(got) > 1:
                res["dup"] += len(got) - 1
                problems.append(f"device {dev}: {aid} received {len(got)} times")
            if caused.get((dev, aid), 0) > 1:
                res["dup"] += caused[(dev, aid)] - 1
            if caused.get((dev, aid)):
                res["delivered"] += 1
                if window is None:
                    latencies.append(got[0] - s.time)
            elif got:
                # Arrived without a change: right only if the sensor was already so (an
                # earlier release); else the library swallowed a transition.
                if window is None and not _already(states.get((dev, key), ([], [])), got[0],
                                                   s.state == "active"):
                    res["lost"] += 1
                    problems.append(f"device {dev}: SWALLOWED {aid} (no change although the "
                                    f"sensor was not {s.state})")
                else:
                    res["absorbed"] += 1
            elif window is not None:
                res["lost_in_window"] += 1
                per_fault[window.kind]["lost (accounted)"] += 1
            else:
                res["lost"] += 1
                if len(problems) < 30:
                    problems.append(f"device {dev}: LOST {aid} sent at {s.time - t_go:.2f} s "
                                    f"(delivered_to={s.delivered_to})")

    cut_ids = {(dev, (code_of(CUT_EVENT), 1, "active", count)) for dev, _, count in logs["cuts"]}
    for rid, times in received.items():
        if rid not in sent_ids:
            res["spurious"] += len(times)
            what = "a cut alert came through" if rid in cut_ids else "an alert nobody sent"
            problems.append(f"device {rid[0]}: SPURIOUS {what}: {rid[1]}")

    # Client transitions that no alert caused.
    for dev, items in changes.items():
        last: Dict[Tuple[str, int], bool] = {}
        for t, code, channel, new, cause, _aid in sorted(items):
            key = (code, channel)
            if last.get(key, False) == new:
                res["dup"] += 1
                problems.append(f"device {dev}: {key} turned {'on' if new else 'off'} twice")
            last[key] = new
            window = in_window(by_dev[dev], t)
            if cause == "loss":
                if new:
                    res["spurious"] += 1
                    problems.append(f"device {dev}: SPURIOUS on-change with no alert: {key}")
                else:
                    res["released_on_loss"] += 1
                    if window is not None:
                        per_fault[window.kind]["released on loss"] += 1
            elif cause == "stale":
                if new:
                    res["spurious"] += 1
                else:
                    res["stale_released"] += 1
                    if window is not None:
                        per_fault[window.kind]["stale released"] += 1
                    else:
                        res["stale_outside_window"] += 1
        on = [k for k, v in last.items() if v]
        if on:
            res["on_at_end"] += len(on)
            problems.append(f"device {dev}: still on at the end: {on}")

    # Disconnects must all fall into a cutting fault's window.
    for dev, evts in conn.items():
        ups = [t for t, up in evts if up]
        res["reconnects"] += max(0, len(ups) - 1)
        for t, up in evts:
            if up:
                continue
            window = in_window(by_dev[dev], t)
            if window is None and t >= t_go:
                res["unexplained_disconnects"] += 1
                problems.append(f"device {dev}: disconnect at {t - t_go:.2f} s outside any fault")
            elif window is not None:
                per_fault[window.kind]["disconnects"] += 1
    for window in windows:
        if window.kind in CUTTING_FAULTS:
            per_fault[window.kind]["window s"] += window.end - window.start
    res["per_fault"] = per_fault
    res["problems"] = problems
    res["latencies"] = latencies
    res["cuts"] = len(logs["cuts"])
    return res


# == driver ==============================================================================
def fmt_mib(value: int) -> str:
    return f"{value / (1 << 20):.1f} MiB"


def report(plan: Plan, res: Dict[str, Any], logs: Dict[str, Any], figures: Dict[str, Any],
           counter: LogCounter, elapsed: float) -> bool:
    print(f"\nChaos soak: {plan.devices} devices, {elapsed / 60:.1f} min, seed {plan.seed}")
    print("(clients in this process; emulators, players and faults in a child process)\n")
    cols = ["faults", "lost (accounted)", "released on loss", "stale released", "disconnects",
            "window s"]
    print(f"{'fault':<16}" + "".join(f"{c:>18}" for c in cols))
    for kind in FAULTS:
        row = res["per_fault"][kind]
        cells = [row.get(c, 0) for c in cols]
        print(f"{kind:<16}" + "".join(f"{v:>18.1f}" if isinstance(v, float) else f"{v:>18}"
                                      for v in cells))
    print(f"\ncut alerts (half a part, then the connection cut): {res['cuts']}")
    print(f"device auth failures (wrong password windows): {sum(logs['auth_failures'])}")
    print(f"streams opened on the devices: {sum(logs['streams_opened'])}, "
          f"client reconnects: {res['reconnects']}")
    lat = sorted(res["latencies"])
    if lat:
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        print(f"latency sent -> listener outside faults: median "
              f"{statistics.median(lat) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
              f"max {lat[-1] * 1000:.1f} ms")
    print("\ntransitions")
    rows = [("sent by the devices", res["sent"]),
            ("  of which with no stream open", res["sent_no_stream"]),
            ("delivered (listener saw the change)", res["delivered"]),
            ("absorbed (arrived, sensor already so)", res["absorbed"]),
            ("lost inside fault windows (accounted)", res["lost_in_window"]),
            ("LOST outside fault windows", res["lost"]),
            ("DUPLICATED", res["dup"]),
            ("SPURIOUS", res["spurious"]),
            ("released on loss (expected)", res["released_on_loss"]),
            ("stale released", res["stale_released"]),
            ("  of which outside fault windows", res["stale_outside_window"]),
            ("DISCONNECTS outside fault windows", res["unexplained_disconnects"]),
            ("sensors still ON at the end", res["on_at_end"])]
    for name, value in rows:
        print(f"  {name:<42}{value:>10}")
    print("\nclient process            start (connected)  baseline (warm)        end")
    print(f"  threads                 {figures['threads'][0]:>17}{figures['threads'][1]:>17}"
          f"{figures['threads'][2]:>11}")
    print(f"  RSS                     {fmt_mib(figures['rss'][0]):>17}"
          f"{fmt_mib(figures['rss'][1]):>17}{fmt_mib(figures['rss'][2]):>11}")
    samples = figures["samples"]
    print(f"  RSS samples (every ~10 s): min {fmt_mib(min(samples))}, "
          f"max {fmt_mib(max(samples))}; each minute (MiB): "
          + " ".join(f"{v / (1 << 20):.1f}" for v in samples[::6]))
    print(f"device process at the end: {logs['threads']} threads, RSS {fmt_mib(logs['rss'])}")
    if counter.by_msg:
        print("\nlibrary log records (WARNING and above)")
        for (level, msg), n in sorted(counter.by_msg.items(), key=lambda x: -x[1])[:12]:
            print(f"  {n:>7}  {level:<8} {msg[:90]}")
    traceback_count = len(counter.tracebacks)

    threads_grew = figures["threads"][2] > figures["threads"][1]
    base, end = figures["rss"][1], figures["rss"][2]
    rss_grew = end - base > max(RSS_GROWTH_LIMIT_BYTES, RSS_GROWTH_LIMIT_RATIO * base)
    failures = {"lost": res["lost"], "duplicated": res["dup"], "spurious": res["spurious"],
                "unexplained disconnects": res["unexplained_disconnects"],
                "sensors on at the end": res["on_at_end"],
                "library exceptions logged": traceback_count,
                "thread growth": int(threads_grew), "RSS growth": int(rss_grew),
                "clients not connected at the end": figures["not_connected"]}
    if threads_grew:
        print(f"  new threads: {sorted(set(figures['names'][1]) ^ set(figures['names'][0]))}")
    for text in counter.tracebacks[:3]:
        print("\n" + text)
    for line in res["problems"][:30]:
        print("  ! " + line)
    failed = {k: v for k, v in failures.items() if v}
    print("\nRESULT: " + ("PASS (0 lost, 0 duplicated, 0 spurious; every loss inside a fault "
                          "window; no thread or RSS growth)" if not failed
                          else "FAIL " + ", ".join(f"{k}={v}" for k, v in failed.items())))
    return not failed


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--log", help="write every library log record (DEBUG) to this file")
    parser.add_argument("--dump", help="save the raw logs of both sides (JSON) to this file")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="print the client's biggest allocation growths, baseline to end "
                             "(slower; RSS figures then include tracemalloc's own memory)")
    args = parser.parse_args(argv)
    plan = Plan(args.devices, args.minutes * 60.0,
                args.seed if args.seed is not None else random.randrange(1 << 30))
    counter = LogCounter(args.log)
    counter.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(name)s %(levelname)s "
                                           "%(message)s"))
    logging.getLogger().addHandler(counter)
    logging.getLogger().setLevel(counter.level)

    snapshot0 = None
    if args.tracemalloc:
        tracemalloc.start(1)
    ctx = multiprocessing.get_context("spawn")
    control, child_end = ctx.Pipe()
    child = ctx.Process(target=device_main, args=(child_end, plan), name="soak-devices",
                        daemon=True)
    child.start()
    spool = Spool()
    clients: List[HikDevice] = []
    try:
        if not control.poll(60):
            raise SystemExit("the device process did not start")
        _, specs = control.recv()
        for index, (port, _kind, _channels, password) in enumerate(specs):
            device = make_client(port, password)
            tap = Tap(index, spool)
            tap.watch_expiries(device)
            device.watcher.add_alert_listener(tap.on_alert)
            device.watcher.add_change_listener(tap.on_change)
            device.watcher.add_connection_listener(tap.on_connection)
            clients.append(device)
        for device in clients:
            device.start()
        if not wait_until(lambda: all(d.connected for d in clients), CONNECT_WAIT_S):
            raise SystemExit("the clients did not connect")
        threads0, rss0, names0 = measure()
        t_go = time.monotonic()
        control.send(("go",))
        warm_s = min(60.0, max(5.0, plan.seconds * 0.1))
        samples, baseline = [], None
        while not control.poll(min(10.0, warm_s) if baseline is None else 10.0):
            figures_now = measure()
            samples.append(figures_now[1])
            if baseline is None and time.monotonic() - t_go >= warm_s:
                baseline = figures_now
                snapshot0 = tracemalloc.take_snapshot() if args.tracemalloc else None
        _, t_quiet = control.recv()
        if baseline is None:
            baseline = measure()
            snapshot0 = tracemalloc.take_snapshot() if args.tracemalloc else None
        time.sleep(SETTLE_S)
        wait_until(lambda: all(d.connected for d in clients), CONNECT_WAIT_S)
        not_connected = sum(not d.connected for d in clients)
        threads2, rss2, names2 = measure()
        samples.append(rss2)
        if snapshot0 is not None:
            growth = tracemalloc.take_snapshot().compare_to(snapshot0, "lineno")
            print("client allocations that grew most, baseline -> end (tracemalloc):")
            for stat in growth[:10]:
                print(f"  {stat}")
        control.send(("collect",))
        _, logs = control.recv()
        elapsed = t_quiet - t_go
    finally:
        for device in clients:
            device.close()
        try:
            control.send(("stop",))
        except OSError:
            pass
        child.join(10)
    figures = {"threads": (threads0, baseline[0], threads2), "rss": (rss0, baseline[1], rss2),
               "names": (baseline[2], names2), "samples": samples,
               "not_connected": not_connected}
    records = spool.read()
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as out:
            json.dump({"t_go": t_go, "logs": logs, "records": records}, out)
    res = account(logs, records, t_go)
    return 0 if report(plan, res, logs, figures, counter, elapsed) else 1


if __name__ == "__main__":
    sys.exit(main())
