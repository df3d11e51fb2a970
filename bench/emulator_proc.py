"""The benchmarks' emulated devices, in a process of their own, driven by JSON lines.

Reads one JSON command a line on stdin and answers one JSON line on stdout, so that the
measured client's CPU time and memory are its own. Times are ``time.monotonic()``, which is
system-wide on Linux: comparable with the client's. Every loop is bounded in count and time.
Only 127.0.0.1 is served.

Commands (``dev`` is the index of a device, in the order they were made):
  start        devices=[{name, chunked, heartbeat_s, kind}]      -> ports, ids
  start_many   n, prefix, heartbeat_s, chunked                   -> ports, ids
  wait_streams dev, n, timeout    (n streams opened in total)    -> ok, t
  push         dev, event, state                                 -> t
  push_fast    dev, n             (VMD alternating active/inactive, pre-rendered) -> t_first, t_last
  push_rate    dev, n, rate       (same, paced)                  -> times, states
  flood        dev, nbytes, piece (an XML part without its end or a delimiter) -> t_start, t_end
  jpeg         dev, nbytes        (one image/jpeg part)          -> t
  stall / resume / drop  dev                                     -> t
  stats        dev                                               -> opened, open
  scale_run    seconds, rate      (every device, staggered)      -> sent, delivered
               [start, slot, slots, direct, times]  (see cmd_scale_run)
  quit
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any, Dict, List, Optional

from pyhik.emulator import EmulatedDevice, parts
from pyhik.emulator.documents import event_description

MAX_PUSH_COUNT = 1_000_000
MAX_DURATION_S = 600.0
MAX_FLOOD_BYTES = 1 << 30

_devices: List[EmulatedDevice] = []


def _render_vmd(dev: EmulatedDevice, state: str, count: int) -> bytes:
    """The framed part push("VMD", state) would send (rendered ahead of the clock)."""
    ident = dev.identity
    fields = parts.AlertFields(
        event="VMD", state=state, channel=1, io_port=None, count=count,
        description=event_description("VMD"), channel_name=ident.channel_name(1),
        ip=dev.host, port=dev.port, mac=ident.mac, serial=ident.serial, nvr=ident.is_nvr)
    body, ctype = parts.render_alert(fields)
    return parts.frame_part(body, ctype, dev.boundary)


def _state(i: int) -> str:
    return "active" if i % 2 == 0 else "inactive"


def _make(spec: Dict[str, Any]) -> EmulatedDevice:
    dev = EmulatedDevice(spec.get("name", f"bench-{len(_devices)}"),
                         kind=spec.get("kind", "camera"),
                         heartbeat_s=spec.get("heartbeat_s", 10.0),
                         chunked=spec.get("chunked", True), host="127.0.0.1").start()
    _devices.append(dev)
    return dev


def cmd_start(msg: Dict[str, Any]) -> Dict[str, Any]:
    made = [_make(spec) for spec in msg["devices"]]
    return {"ports": [d.port for d in made], "ids": [d.identity.device_id for d in made],
            "first": len(_devices) - len(made)}


def cmd_start_many(msg: Dict[str, Any]) -> Dict[str, Any]:
    n = min(int(msg["n"]), 2000)
    specs = [{"name": f"{msg.get('prefix', 'cam')}-{i:04d}", "chunked": msg.get("chunked", True),
              "heartbeat_s": msg.get("heartbeat_s", 10.0)} for i in range(n)]
    return cmd_start({"devices": specs})


def cmd_wait_streams(msg: Dict[str, Any]) -> Dict[str, Any]:
    dev = _devices[msg["dev"]]
    timeout = min(float(msg.get("timeout", 10)), MAX_DURATION_S)
    ok = dev.wait_for_streams(int(msg.get("n", 1)), timeout)
    return {"ok": ok, "t": time.monotonic(), "opened": dev.streams_opened}


def cmd_push(msg: Dict[str, Any]) -> Dict[str, Any]:
    dev = _devices[msg["dev"]]
    dev.push(msg.get("event", "VMD"), msg.get("state", "active"))
    return {"t": dev.sent[-1].time, "delivered_to": dev.sent[-1].delivered_to}


def cmd_push_fast(msg: Dict[str, Any]) -> Dict[str, Any]:
    dev = _devices[msg["dev"]]
    n = min(int(msg["n"]), MAX_PUSH_COUNT)
    framed = [_render_vmd(dev, _state(i), i // 2 + 1) for i in range(n)]
    push_raw = dev.push_raw
    t_first = time.monotonic()
    for data in framed:
        push_raw(data)
    t_last = time.monotonic()
    return {"t_first": t_first, "t_last": t_last, "n": n, "open_streams": dev.open_streams}


def cmd_push_rate(msg: Dict[str, Any]) -> Dict[str, Any]:
    dev = _devices[msg["dev"]]
    n = min(int(msg["n"]), MAX_PUSH_COUNT)
    period = 1.0 / float(msg.get("rate", 100))
    if n * period > MAX_DURATION_S:
        return {"error": "run too long"}
    first = len(dev.sent)
    start = time.monotonic() + 0.05
    for i in range(n):
        delay = start + i * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        dev.push("VMD", _state(i))
    sent = dev.sent[first:]
    return {"times": [s.time for s in sent], "states": [s.state == "active" for s in sent],
            "delivered_to": min(s.delivered_to for s in sent) if sent else 0}


def cmd_flood(msg: Dict[str, Any]) -> Dict[str, Any]:
    """A part that starts like an alert and never ends: no end tag, no delimiter."""
    dev = _devices[msg["dev"]]
    nbytes = min(int(msg["nbytes"]), MAX_FLOOD_BYTES)
    piece_len = max(1024, int(msg.get("piece", 65536)))
    head = (f"--{dev.boundary}\r\nContent-Type: {parts.XML_CONTENT_TYPE}\r\n\r\n"
            '<?xml version="1.0" encoding="UTF-8"?>\r\n'
            '<EventNotificationAlert version="2.0" '
            'xmlns="http://www.hikvision.com/ver20/XMLSchema">'
            "\r\n").encode("ascii")
    line = b"<eventDescription>no end in sight</eventDescription>\r\n"
    piece = (line * (piece_len // len(line) + 1))[:piece_len]
    t_start = time.monotonic()
    dev.push_raw(head)
    sent = len(head)
    while sent < nbytes:
        chunk = piece[:nbytes - sent]
        dev.push_raw(chunk)
        sent += len(chunk)
    dev.push_raw(b"\r\n")
    return {"t_start": t_start, "t_end": time.monotonic(), "bytes": sent}


def cmd_jpeg(msg: Dict[str, Any]) -> Dict[str, Any]:
    dev = _devices[msg["dev"]]
    t_start = time.monotonic()
    dev.push_jpeg(min(int(msg["nbytes"]), MAX_FLOOD_BYTES))
    return {"t_start": t_start, "t_end": time.monotonic()}


def cmd_stall(msg: Dict[str, Any]) -> Dict[str, Any]:
    _devices[msg["dev"]].stall()
    return {"t": time.monotonic()}


def cmd_resume(msg: Dict[str, Any]) -> Dict[str, Any]:
    _devices[msg["dev"]].resume()
    return {"t": time.monotonic()}


def cmd_drop(msg: Dict[str, Any]) -> Dict[str, Any]:
    t = time.monotonic()
    _devices[msg["dev"]].drop()
    return {"t": t}


def cmd_stats(msg: Dict[str, Any]) -> Dict[str, Any]:
    dev = _devices[msg["dev"]]
    return {"opened": dev.streams_opened, "open": dev.open_streams}


def _write_direct(dev: EmulatedDevice, state: str, count: int) -> Optional[float]:
    """Write one alert straight onto the device's open stream socket(s), on this thread.

    The time of the alert is taken once its bytes are in the socket (written by the
    device), and no sender thread has to wake up per alert: with a thousand devices in a
    few processes on a small machine, those wake-ups would be the emulator's bottleneck
    and part of the measured latency. Each stream's write lock keeps its own sender
    thread (heartbeats) from writing in between. Reads the device's private stream table:
    this is a benchmark of the client, not a use of the emulator's API.
    """
    data = dev._transfer(_render_vmd(dev, state, count))
    conns = list(dev._streams.values())
    for conn in conns:
        with conn.write_lock:
            try:
                conn.sock.sendall(data)
            except OSError:
                return None
    return time.monotonic() if conns else None


def cmd_scale_run(msg: Dict[str, Any]) -> Dict[str, Any]:
    """Each device sends one alert every 1/rate s, the devices spread over the period.

    Several emulator processes can share one run: ``start`` (a monotonic time, shared by
    the processes) and this process's ``slot`` of ``slots`` place its devices between the
    others'. With ``direct`` the alerts are written from this thread (see _write_direct),
    otherwise pushed through the device's queue. With ``times`` the write times of every
    device's alerts are returned (None for an alert that had no open stream).
    """
    seconds = min(float(msg.get("seconds", 60)), MAX_DURATION_S)
    period = 1.0 / float(msg.get("rate", 1.0))
    slot, slots = int(msg.get("slot", 0)), max(1, int(msg.get("slots", 1)))
    direct, want_times = bool(msg.get("direct")), bool(msg.get("times"))
    devices = list(_devices)
    n_total = len(devices) * slots
    rounds = int(seconds / period)
    first = [len(d.sent) for d in devices]
    times: List[List[Optional[float]]] = [[] for _ in devices]
    start = float(msg.get("start") or time.monotonic() + 0.1)
    cpu0 = time.process_time()
    late = 0.0
    for r in range(rounds):
        for k, dev in enumerate(devices):
            due = start + r * period + (k * slots + slot) * period / n_total
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                late = max(late, -delay)
            if direct:
                times[k].append(_write_direct(dev, _state(r), r // 2 + 1))
            else:
                dev.push("VMD", _state(r))
    if direct:
        sent = [len(t) for t in times]
        delivered = [sum(1 for t in ts if t is not None) for ts in times]
    else:
        sent = [len(d.sent) - f for d, f in zip(devices, first)]
        delivered = [sum(1 for s in d.sent[f:] if s.delivered_to) for d, f in zip(devices, first)]
        times = [[s.time for s in d.sent[f:]] for d, f in zip(devices, first)]
    reply = {"sent": sent, "delivered": delivered, "t_start": start, "t_end": time.monotonic(),
             "max_late_s": late, "cpu_s": time.process_time() - cpu0,
             "threads": threading.active_count()}
    if want_times:
        reply["times"] = times
    return reply


COMMANDS = {name[4:]: fn for name, fn in globals().items() if name.startswith("cmd_")}


def main() -> int:
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    out = sys.stdout
    out.write(json.dumps({"hello": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        msg = json.loads(line)
        if msg.get("cmd") == "quit":
            break
        handler = COMMANDS.get(msg.get("cmd", ""))
        try:
            reply = handler(msg) if handler else {"error": f"unknown command {msg.get('cmd')!r}"}
        except Exception as err:  # report it to the driver, keep serving
            logging.exception("command %r failed", msg.get("cmd"))
            reply = {"error": f"{type(err).__name__}: {err}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    for dev in _devices:
        dev.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
