"""The ``pyhik`` command: demo, watch, check, emulate and replay.

Expected failures (bad config, unreachable device, wrong password, missing permission)
print one clear line to stderr and exit non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from pyhik import __version__

from .console import FIRST_CONNECT_S, Printer, run_with_signals, start_hubs, stop_hubs, wait_until

__all__ = ["main", "build_parser", "Subcommand", "SUBCOMMANDS", "register", "verbosity",
           "configs_from_args", "verify_from_args", "Printer", "start_hubs", "stop_hubs",
           "wait_until", "run_with_signals", "FIRST_CONNECT_S"]

PASSWORD_ENV = "PYHIK_PASSWORD"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_DEVICE_FLAGS = ("host", "port", "ssl", "username", "password", "name")
"""Options that say what --config FILE says, so never given with it."""


def _device_arguments(parser: argparse.ArgumentParser, *, config: bool) -> None:
    parser.add_argument("--host", help="camera or NVR address: 192.168.1.64, http://cam.local, "
                                       "https://cam:8443, ::1 or [::1]:8080")
    parser.add_argument("--port", type=int, default=None,
                        help="HTTP(S) port (default 80, or 443 with --ssl or an https:// host)")
    parser.add_argument("--ssl", action="store_true", default=None, help="use HTTPS")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--ca-file", metavar="PATH",
                     help="trust the device's certificate if this CA bundle (PEM) signed it")
    tls.add_argument("--no-verify-ssl", action="store_true",
                     help="accept any certificate (prefer --ca-file)")
    parser.add_argument("--username", "-u", help="device user")
    parser.add_argument("--password", "-p",
                        help=f"device password (or set the {PASSWORD_ENV} environment variable)")
    if config:
        parser.add_argument("--name", help="name for the sensors (default: the device's own)")
        parser.add_argument("--config", "-c", metavar="FILE.yaml",
                            help="Home Assistant style YAML: the 'platform: hikvision' "
                                 "entries under binary_sensor (several devices at once)")


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--forever", action="store_true", help="keep playing events until Ctrl-C")
    parser.add_argument("--mqtt", metavar="URL",
                        help="publish the emulated devices to this MQTT broker "
                             "(mqtt://HOST:PORT) with Home Assistant discovery, until Ctrl-C")
    parser.add_argument("--json", action="store_true", help="print JSON lines")


def _watch_arguments(parser: argparse.ArgumentParser) -> None:
    _device_arguments(parser, config=True)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--duration", type=float, metavar="S", help="exit after S seconds")


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    _device_arguments(parser, config=False)


def _emulate_arguments(parser: argparse.ArgumentParser) -> None:
    from pyhik.emulator.cli import add_arguments
    add_arguments(parser)


def _mqtt_arguments(parser: argparse.ArgumentParser) -> None:
    from .mqtt import add_arguments
    add_arguments(parser)


def _replay_arguments(parser: argparse.ArgumentParser) -> None:
    from .replay import add_arguments
    add_arguments(parser)


@dataclass(frozen=True)
class Subcommand:
    """One ``pyhik`` subcommand: its name, help line, options and body."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: List[Subcommand] = []
"""Every subcommand, in help order; :func:`register` adds one (``pyhik mqtt`` does)."""


def register(command: Subcommand) -> None:
    """Add (or replace) a subcommand."""
    SUBCOMMANDS[:] = [c for c in SUBCOMMANDS if c.name != command.name] + [command]


def _verbosity(dest: str) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-v", "--verbose", dest=dest, action="count", default=0,
                        help="more log output (-vv: debug)")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyhik", description="Hikvision alert streams as on/off sensors.",
                                     parents=[_verbosity("verbose")])
    parser.add_argument("--version", action="version", version=f"pyhik {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # A dest of its own: the subcommand's default 0 must not clobber a count given before it.
    after = _verbosity("verbose_after")
    for command in SUBCOMMANDS:
        command.add_arguments(sub.add_parser(command.name, help=command.help, parents=[after]))
    return parser


def verbosity(args: argparse.Namespace) -> int:
    """-v given before and after the subcommand add up (``pyhik -v watch -v`` is -vv)."""
    return int(getattr(args, "verbose", 0) or 0) + int(getattr(args, "verbose_after", 0) or 0)


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``pyhik`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbosity(args), 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from pyhik.errors import PyhikError
    run = next(c.run for c in SUBCOMMANDS if c.name == args.command)
    try:
        return run(args)
    except PyhikError as err:
        print(f"pyhik {args.command}: {_one_line(str(err))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from .replay import run
    return run(args, verbose=verbosity(args))


# -- watch -------------------------------------------------------------------------------
def _password(args: argparse.Namespace) -> Optional[str]:
    return args.password if args.password is not None else os.environ.get(PASSWORD_ENV)


def verify_from_args(args: argparse.Namespace) -> Union[bool, str]:
    """requests' ``verify`` from --ca-file / --no-verify-ssl: a CA bundle path or a bool."""
    from pyhik.errors import ConfigError

    if getattr(args, "no_verify_ssl", False):
        return False
    ca_file = getattr(args, "ca_file", None)
    if ca_file:
        if not os.path.isfile(ca_file):
            raise ConfigError(f"--ca-file {ca_file}: no such file (a CA bundle in PEM form)")
        return os.path.abspath(ca_file)
    return True


def configs_from_args(args: argparse.Namespace) -> List[Any]:
    """Device configurations from --config FILE or from --host and friends."""
    from pyhik.errors import ConfigError
    from pyhik.sensors.config import load_file, parse_device

    if getattr(args, "config", None):
        given = [flag for flag in _DEVICE_FLAGS
                 if getattr(args, flag, None) not in (None, False)]
        if given:
            raise ConfigError(f"--{given[0].replace('_', '-')} cannot be combined with "
                              "--config: put it in the file's entry instead")
        configs = load_file(args.config)
        if args.no_verify_ssl or args.ca_file:
            from dataclasses import replace
            verify = verify_from_args(args)
            configs = [replace(c, verify_ssl=verify) for c in configs]
        return configs
    if not args.host:
        raise ConfigError("--host (or --config FILE.yaml) is required")
    if not args.username:
        raise ConfigError("no user name given: pass --username")
    password = _password(args)
    if password is None:  # said before the device is asked: a refused login costs a try
        raise ConfigError(f"no password given: pass --password or set {PASSWORD_ENV}")
    entry: Dict[str, Any] = {"host": args.host, "username": args.username, "password": password}
    if args.ssl:
        entry["ssl"] = True
    if args.port is not None:
        entry["port"] = args.port
    if getattr(args, "name", None):
        entry["name"] = args.name
    return [parse_device(entry, verify_ssl=verify_from_args(args))]


def cmd_watch(args: argparse.Namespace) -> int:
    from pyhik.errors import ConfigError

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
    from pyhik.emulator.cli import run
    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.mqtt:
        from .mqtt import run_demo as run_mqtt_demo
        return run_mqtt_demo(args)
    from .demo import run_demo
    # A closed stdout (pyhik demo | head -3) ends the demo, as it ends watch.
    return run_with_signals(lambda stop: run_demo(Printer(args.json, closed=stop),
                                                  forever=args.forever, stop=stop))


def cmd_mqtt(args: argparse.Namespace) -> int:
    from .mqtt import run
    return run(args)


def cmd_check(args: argparse.Namespace) -> int:
    from .check import run_check
    return run_check(args.host, args.port, args.username, _password(args), ssl=args.ssl,
                     verify_ssl=verify_from_args(args), errors=sys.stderr)


for _command in (
        Subcommand("demo", "watch an emulated camera and NVR play a short script",
                   _demo_arguments, cmd_demo),
        Subcommand("watch", "print a device's sensors and every change", _watch_arguments, cmd_watch),
        Subcommand("check", "diagnose a real device: auth, permissions, triggers",
                   _check_arguments, cmd_check),
        Subcommand("emulate", "run an emulated camera or NVR (on 127.0.0.1 by default)",
                   _emulate_arguments, cmd_emulate),
        Subcommand("replay", "parse a recorded raw alert stream and print its alerts",
                   _replay_arguments, cmd_replay),
        Subcommand("mqtt", "publish the sensors to an MQTT broker, with Home Assistant discovery",
                   _mqtt_arguments, cmd_mqtt)):
    register(_command)
COMMANDS = {command.name: command.run for command in SUBCOMMANDS}
"""name -> body, as of import (:data:`SUBCOMMANDS` is the live table)."""

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
