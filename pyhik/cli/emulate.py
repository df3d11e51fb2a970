"""``pyhik emulate``: run an emulated camera or NVR on 127.0.0.1."""

from __future__ import annotations

import argparse


def emulate_arguments(parser: argparse.ArgumentParser) -> None:
    from pyhik.emulator.cli import add_arguments
    add_arguments(parser)


def cmd_emulate(args: argparse.Namespace) -> int:
    from pyhik.emulator.cli import run
    return run(args)
