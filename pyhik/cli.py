"""The ``pyhik`` command: demo, watch, check, emulate and replay.

Expected failures (bad config, unreachable device, wrong password, missing permission)
print one clear line to stderr and exit non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterable, List, Optional, Sequence, TextIO

from . import __version__

PASSWORD_ENV = "PYHIK_PASSWORD"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
FIRST_CONNECT_S = 10.0
"""How long ``watch`` waits for each alert stream to open before it just goes on; a
refused login or a missing permission seen in that time ends it with an error."""
_POLL_S = 0.05
_DEVICE_FLAGS = ("host", "port", "ssl", "username", "password", "name")
"""Options that say what --config FILE says, so never given with it."""


def _device_arguments(parser: argparse.ArgumentParser, *, config: bool) -> None:
    parser.add_argument("--host", help="camera or NVR address (may carry http:// or https://)")
    parser.add_argument("--port", type=int, default=None, help="HTTP(S) port (default 80, or 443 with --ssl)")
    parser.add_argument("--ssl", action="store_true", help="use HTTPS")
    parser.add_argument("--no-verify-ssl", action="store_true",
                        help="accept the device's self-signed certificate")
    parser.add_argument("--username", "-u", help="device user")
    parser.add_argument("--password", "-p",
                        help=f"device password (or set the {PASSWORD_ENV} environment variable)")
    if config:
        parser.add_argument("--name", help="name for the sensors (default: the device's own)")
        parser.add_argument("--config", "-c", metavar="FILE.yaml",
                            help="Home Assistant style YAML: the 'platform: hikvision' "
                                 "entries under binary_sensor (several devices at once)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyhik", description="Hikvision alert streams as on/off sensors.")
    parser.add_argument("--version", action="version", version=f"pyhik {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="watch an emulated camera and NVR play a short script")
    demo.add_argument("--forever", action="store_true", help="keep playing events until Ctrl-C")
    demo.add_argument("--json", action="store_true", help="print JSON lines")

    watch = sub.add_parser("watch", help="print a device's sensors and every change")
    _device_arguments(watch, config=True)
    watch.add_argument("--json", action="store_true", help="one JSON object per line")
    watch.add_argument("--duration", type=float, metavar="S", help="exit after S seconds")

    check = sub.add_parser("check", help="diagnose a real device: auth, permissions, triggers")
    _device_arguments(check, config=False)

    emulate = sub.add_parser("emulate", help="run an emulated camera or NVR on 127.0.0.1")
    from .emulator.cli import add_arguments
    add_arguments(emulate)

    replay = sub.add_parser("replay", help="parse a recorded raw alert stream and print its alerts")
    replay.add_argument("file", help="a capture (curl ... alertStream > FILE), or - for stdin")
    replay.add_argument("--json", action="store_true", help="one JSON object per line")
    from .mqtt.cli import add_parser as add_mqtt_parser
    add_mqtt_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``pyhik`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .errors import PyhikError
    try:
        return COMMANDS[args.command](args)
    except PyhikError as err:
        print(f"pyhik {args.command}: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


# -- replay ------------------------------------------------------------------------------
def cmd_replay(args: argparse.Namespace) -> int:
    from .multipart import MultipartFramer
    from .templates import AlertParser

    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    except OSError as err:
        print(f"pyhik replay: cannot read {args.file}: {err.strerror}", file=sys.stderr)
        return EXIT_FAILED
    framer = MultipartFramer(None)
    parse_alert = AlertParser().parse
    count = 0
    with source:
        while True:
            data = source.read(65536)
            parts = framer.feed(data) if data else framer.close()
            for part in parts:
                alert = parse_alert(part.body, part.content_type)
                if alert is not None:
                    count += 1
                    print(json.dumps(alert_record(alert)) if args.json else alert_line(alert))
            if not data:
                break
    if not count:
        print(f"pyhik replay: no alert found in {args.file}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def alert_record(alert: Any) -> dict:
    """The JSON form of an alert (``pyhik replay --json``)."""
    return {"event": alert.event, "name": alert.event_type.name, "state": alert.state,
            "channel": alert.channel, "io_port": alert.io_port, "count": alert.count,
            "time": alert.time, "target": alert.target, "description": alert.description,
            "heartbeat": alert.heartbeat, "retransmission": alert.retransmission,
            "ongoing": alert.ongoing}


def alert_line(alert: Any) -> str:
    where = f"io {alert.io_port}" if alert.io_port is not None else f"channel {alert.channel}"
    extras = [f"count {alert.count}"] if alert.count is not None else []
    extras += ["heartbeat"] if alert.heartbeat else []
    extras += ["retransmitted"] if alert.retransmission else []
    extras += [f"target {alert.target}"] if alert.target else []
    return (f"{alert.time or '-'}  {alert.event_type.name} ({alert.event})  {alert.state}  "
            f"{where}  {', '.join(extras)}").rstrip()


# -- watch -------------------------------------------------------------------------------
def _password(args: argparse.Namespace) -> Optional[str]:
    return args.password if args.password is not None else os.environ.get(PASSWORD_ENV)


def configs_from_args(args: argparse.Namespace) -> List[Any]:
    """Device configurations from --config FILE or from --host and friends."""
    from .config import load_file, parse_device
    from .errors import ConfigError

    if getattr(args, "config", None):
        given = [flag for flag in _DEVICE_FLAGS
                 if getattr(args, flag, None) not in (None, False)]
        if given:
            raise ConfigError(f"--{given[0].replace('_', '-')} cannot be combined with "
                              "--config: put it in the file's entry instead")
        configs = load_file(args.config)
        if args.no_verify_ssl:
            from dataclasses import replace
            configs = [replace(c, verify_ssl=False) for c in configs]
        return configs
    if not args.host:
        raise ConfigError("--host (or --config FILE.yaml) is required")
    entry = {"host": args.host, "ssl": args.ssl, "username": args.username,
             "password": _password(args)}
    if args.port is not None:
        entry["port"] = args.port
    elif args.ssl:
        entry["port"] = 443
    if getattr(args, "name", None):
        entry["name"] = args.name
    return [parse_device(entry, verify_ssl=not args.no_verify_ssl)]


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

    def sensors(self, hub: Any) -> None:
        if not self.as_json:
            kind = "NVR" if hub.is_nvr else "camera"
            self.line(f"{hub.name} ({kind} {hub.device.info.model if hub.device.info else ''}, "
                      f"{hub.device.client.base_url}): {len(hub.sensors)} sensor"
                      f"{'' if len(hub.sensors) == 1 else 's'}")
        for sensor in hub.sensors:
            if self.as_json:
                self.line(json.dumps(sensor.as_dict()))
            else:
                extra = f", delay {sensor.as_dict()['delay']} s" if sensor.delay else ""
                self.line(f"  {sensor.entity_id:<45} {sensor.state:<3}  "
                          f"({sensor.device_class or 'no class'}{extra})")

    def change(self, change: Any) -> None:
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
    from .sensors import DeviceSensors

    hubs: List[Any] = []
    try:
        for config in configs:
            hub = DeviceSensors(config, **device_options)
            hubs.append(hub)
            hub.setup()
        _warn_shared_entity_ids(hubs)
        for hub in hubs:
            printer.sensors(hub)
            hub.add_listener(printer.change)
            hub.add_connection_listener(
                lambda up, hub=hub: printer.note(f"{hub.name}: alert stream "
                                                 f"{'connected' if up else 'lost, reconnecting'}"))
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
                logging.getLogger(__name__).warning(
                    "%s and %s both give %s: set a different 'name' for one of them",
                    other.config.host, hub.config.host, sensor.entity_id)


def _await_streams(hubs: Sequence[Any], timeout_s: float, stop: threading.Event) -> None:
    """Wait until each stream is open; raise a login or permission refusal at once."""
    from .errors import AuthenticationError, PermissionDeniedError

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
    """While ``watch`` starts, the stream thread's log line for a refused login or
    permission is dropped: the command reports that error itself, in one line."""

    _LOGGER_NAME = "pyhik.watcher"

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and record.exc_info is None)

    def __enter__(self) -> "_QuietStreamErrors":
        logging.getLogger(self._LOGGER_NAME).addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(self._LOGGER_NAME).removeFilter(self)


def stop_hubs(hubs: Iterable[Any]) -> None:
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


def cmd_watch(args: argparse.Namespace) -> int:
    from .errors import ConfigError

    if args.duration is not None and not args.duration >= 0:
        raise ConfigError(f"--duration: expected seconds >= 0, got {args.duration:g}")
    configs = configs_from_args(args)
    deadline = time.monotonic() + args.duration if args.duration is not None else None

    def body(stop: threading.Event) -> int:
        printer = Printer(args.json, closed=stop)  # a closed stdout ends the watch
        hubs = start_hubs(configs, printer, first_connect_s=FIRST_CONNECT_S, stop=stop)
        try:
            wait_until(deadline, stop)
        finally:
            stop_hubs(hubs)
        return EXIT_OK

    return run_with_signals(body)


def cmd_emulate(args: argparse.Namespace) -> int:
    from .emulator.cli import run
    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    return run_with_signals(lambda stop: run_demo(Printer(args.json), forever=args.forever, stop=stop))


def cmd_check(args: argparse.Namespace) -> int:
    from .check import run_check
    return run_check(args.host, args.port, args.username, _password(args), ssl=args.ssl,
                     verify_ssl=not args.no_verify_ssl, errors=sys.stderr)


COMMANDS = {"demo": cmd_demo, "watch": cmd_watch, "check": cmd_check,
            "emulate": cmd_emulate, "replay": cmd_replay,
            "mqtt": lambda args: __import__("pyhik.mqtt.cli", fromlist=["run"]).run(args)}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
