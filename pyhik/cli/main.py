"""The ``pyhik`` command: its argument parser and the dispatch to each command's module.

Expected failures (bad config, unreachable device, wrong password, missing permission)
print one clear line to stderr and exit non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

from pyhik import __version__

from .check import check_arguments, cmd_check
from .console import FIRST_CONNECT_S, Printer, run_with_signals, start_hubs, stop_hubs, wait_until
from .demo import cmd_demo, demo_arguments
from .emulate import cmd_emulate, emulate_arguments
from .options import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    configs_from_args,
    verbosity,
    verify_from_args,
)
from .replay import cmd_replay, replay_arguments
from .watch import cmd_watch, watch_arguments

__all__ = ["main", "build_parser", "Subcommand", "SUBCOMMANDS", "register", "verbosity",
           "configs_from_args", "verify_from_args", "Printer", "start_hubs", "stop_hubs",
           "wait_until", "run_with_signals", "FIRST_CONNECT_S"]


def _mqtt_arguments(parser: argparse.ArgumentParser) -> None:
    from .mqtt import add_arguments
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


def cmd_mqtt(args: argparse.Namespace) -> int:
    from .mqtt import run
    return run(args)


for _command in (
        Subcommand("demo", "watch an emulated camera and NVR play a short script",
                   demo_arguments, cmd_demo),
        Subcommand("watch", "print a device's sensors and every change", watch_arguments, cmd_watch),
        Subcommand("check", "diagnose a real device: auth, permissions, triggers",
                   check_arguments, cmd_check),
        Subcommand("emulate", "run an emulated camera or NVR (on 127.0.0.1 by default)",
                   emulate_arguments, cmd_emulate),
        Subcommand("replay", "parse a recorded raw alert stream and print its alerts",
                   replay_arguments, cmd_replay),
        Subcommand("mqtt", "publish the sensors to an MQTT broker, with Home Assistant discovery",
                   _mqtt_arguments, cmd_mqtt)):
    register(_command)
COMMANDS = {command.name: command.run for command in SUBCOMMANDS}
"""name -> body, as of import (:data:`SUBCOMMANDS` is the live table)."""

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
