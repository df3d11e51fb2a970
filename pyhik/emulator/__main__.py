"""``python -m pyhik.emulator``: run an emulated camera or NVR until interrupted."""

from __future__ import annotations

import argparse
import sys

from .cli import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m pyhik.emulator",
                                     description="Run an emulated Hikvision camera or NVR on 127.0.0.1.")
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
