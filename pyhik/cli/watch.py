"""``pyhik watch``: print a device's sensors and every change, until stopped."""

from __future__ import annotations

import argparse
import gc
import threading
import time

from .console import FIRST_CONNECT_S, Printer, run_with_signals, start_hubs, stop_hubs, wait_until
from .options import EXIT_OK, configs_from_args, device_arguments


def watch_arguments(parser: argparse.ArgumentParser) -> None:
    device_arguments(parser, config=True)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--duration", type=float, metavar="S", help="exit after S seconds")


def cmd_watch(args: argparse.Namespace) -> int:
    from pyhik.errors import ConfigError

    if args.duration is not None and not args.duration >= 0:
        raise ConfigError(f"--duration: expected seconds >= 0, got {args.duration:g}")
    configs = configs_from_args(args)
    deadline = time.monotonic() + args.duration if args.duration is not None else None

    def body(stop: threading.Event) -> int:
        printer = Printer(args.json, closed=stop)  # a closed stdout ends the watch
        hubs = start_hubs(configs, printer, first_connect_s=FIRST_CONNECT_S, stop=stop)
        freeze_setup()
        try:
            wait_until(deadline, stop)
        finally:
            stop_hubs(hubs)
        return EXIT_OK

    return run_with_signals(body)


def freeze_setup() -> None:
    """Move what set-up made out of the garbage collector's sight (an application's
    choice, never the library's): with many devices, the first full collection after
    start-up walks every session, pool and book with the GIL held, a pause of hundreds
    of milliseconds on every stream (bench/README.md, 1,000 cameras)."""
    gc.collect()
    gc.freeze()
