"""Shell entry of the emulator: ``pyhik emulate`` / ``python -m pyhik.emulator`` arguments and run."""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
from typing import Any, Dict, List, Optional

from .device import EmulatedDevice

DEMO_INACTIVE_AFTER_S = 2.0
DEFAULT_PASSWORD = "12345"
PREFIX = "pyhik emulate:"
"""How each error line starts (also under ``python -m pyhik.emulator``)."""
_DEMO_EVENTS = ("VMD", "linedetection")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``."""
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--camera", action="store_true", help="emulate a camera (the default)")
    what.add_argument("--nvr", type=int, metavar="N", help="emulate an NVR with N channels")
    parser.add_argument("--name", help='deviceName (default "Front Porch", or "Home" for an NVR)')
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on: 127.0.0.1 (the default), ::1 or [::1]")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument("--username", default="admin", help="user name (default admin)")
    parser.add_argument("--password", default=DEFAULT_PASSWORD,
                        help=f"password (default {DEFAULT_PASSWORD})")
    parser.add_argument("--auth", choices=("digest", "basic", "both"), default="digest",
                        help="authentication offered (default digest)")
    parser.add_argument("--heartbeat", type=float, default=10.0, metavar="S",
                        help="seconds between heartbeats on open streams; 0 for none (default 10)")
    parser.add_argument("--demo-events", type=float, metavar="S",
                        help="every S seconds, a random motion or line crossing (active, then inactive)")


def _demo_events(device: EmulatedDevice, period_s: float, stop: threading.Event) -> None:
    rng = random.Random()
    while not stop.wait(period_s):
        event = rng.choice(_DEMO_EVENTS)
        channel = rng.randint(1, device.channels)
        device.push(event, "active", channel)
        if stop.wait(min(DEMO_INACTIVE_AFTER_S, period_s / 2)):
            return
        device.push(event, "inactive", channel)


def _install_signals(stop: threading.Event) -> Dict[int, Any]:
    previous: Dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda *_: stop.set())
    return previous


def run(args: argparse.Namespace, stop: Optional[threading.Event] = None) -> int:
    """Serve until SIGINT / SIGTERM (or ``stop`` is set); 0 on a clean exit, 2 on bad options."""
    nvr: Optional[int] = getattr(args, "nvr", None)
    if nvr is not None and nvr < 1:
        print(f"{PREFIX} --nvr needs at least 1 channel", file=sys.stderr)
        return 2
    if args.demo_events is not None and args.demo_events <= 0:
        print(f"{PREFIX} --demo-events needs a positive number of seconds", file=sys.stderr)
        return 2
    kind = "nvr" if nvr else "camera"
    name = args.name or ("Home" if kind == "nvr" else "Front Porch")
    heartbeat = args.heartbeat if args.heartbeat and args.heartbeat > 0 else None
    host = args.host.strip().strip("[]")  # [::1] and ::1 both mean the IPv6 loopback
    try:
        device = EmulatedDevice(name, kind=kind, channels=nvr or 1, username=args.username,
                                password=args.password, auth=args.auth, host=host,
                                port=args.port, heartbeat_s=heartbeat)
    except ValueError as err:
        print(f"{PREFIX} {err}", file=sys.stderr)
        return 2
    stop = stop or threading.Event()
    previous = _install_signals(stop)
    threads: List[threading.Thread] = []
    try:
        try:
            device.start()
        except OSError as err:
            print(f"{PREFIX} cannot listen on {args.host} port {args.port}: {err.strerror or err}",
                  file=sys.stderr)
            return 1
        what = f"NVR with {device.channels} channels" if kind == "nvr" else "camera"
        print(f"Emulated {what} {name!r} at {device.url}", flush=True)
        password = (f"password {args.password!r} (the default)" if args.password == DEFAULT_PASSWORD
                    else "password as given with --password")
        print(f"  user {args.username!r}, {password}, {args.auth} auth; "
              f"alert stream: {device.url}/ISAPI/Event/notification/alertStream", flush=True)
        print("  Ctrl-C to stop.", flush=True)
        if args.demo_events:
            thread = threading.Thread(target=_demo_events, args=(device, args.demo_events, stop),
                                      name="emulator-demo-events", daemon=True)
            thread.start()
            threads.append(thread)
        stop.wait()
        return 0
    finally:
        stop.set()
        device.stop()
        for thread in threads:
            thread.join(1.0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
