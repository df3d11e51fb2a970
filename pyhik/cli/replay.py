"""``pyhik replay``: parse a recorded raw alert stream and print its alerts.

Parts that are not alerts (a JPEG, a heartbeat-less reply, a ``.jsonl`` file passed by
mistake, a refused DOCTYPE) are not logged one by one: one line on stderr sums them up
by reason, with the first example; ``-v`` shows each as it is met.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from typing import Any, Dict, List, Optional

from .options import verbosity

EXIT_OK, EXIT_FAILED = 0, 1
PARSER_LOGGERS = ("pyhik.protocol.alerts", "pyhik.protocol.multipart", "pyhik.protocol.templates")
"""Where the framer and the parser say what they skip."""
_EXAMPLE_CHARS = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``pyhik replay``."""
    parser.add_argument("file", help="a capture (curl ... alertStream > FILE), or - for stdin")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


class SkipTally(logging.Handler):
    """Counts the parser's log lines by reason; keeps the first example of all."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.reasons: Counter = Counter()
        self.first: Optional[str] = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING:
            return
        args = record.args if isinstance(record.args, tuple) else ()
        # "Skipping a body that is not an alert (%s): %s": (reason, snippet); otherwise
        # the fixed words before the first value name the reason.
        reason = str(args[0]) if len(args) >= 2 else str(record.msg).split("%", 1)[0].strip(" :(")
        self.reasons[reason] += 1
        if self.first is None:  # the part itself where the record carries it, last
            message = str(args[-1]) if len(args) >= 2 else record.getMessage()
            self.first = message if len(message) <= _EXAMPLE_CHARS else \
                message[:_EXAMPLE_CHARS] + "..."

    def summary(self) -> str:
        """``12 parts skipped (no eventType: 10, ...); first: ...``, or ``""``."""
        total = sum(self.reasons.values())
        if not total:
            return ""
        by_reason = ", ".join(f"{why}: {n}" for why, n in self.reasons.most_common())
        return (f"{total} part{'' if total == 1 else 's'} skipped ({by_reason}); "
                f"first: {self.first} (-v shows each)")


class _Tallied:
    """While replaying: the parser's warnings go to the tally, not to the log."""

    def __init__(self, tally: SkipTally, show_each: bool) -> None:
        self.tally = tally
        self.show_each = show_each
        self._saved: Dict[str, bool] = {}

    def __enter__(self) -> SkipTally:
        for name in PARSER_LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self.tally)
            self._saved[name] = logger.propagate
            logger.propagate = self.show_each
        return self.tally

    def __exit__(self, *exc: object) -> None:
        for name in PARSER_LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(self.tally)
            logger.propagate = self._saved[name]


def run(args: argparse.Namespace, verbose: int = 0) -> int:
    """Replay ``args.file``; 0 when it held at least one alert."""
    from pyhik.protocol.multipart import MultipartFramer
    from pyhik.protocol.templates import AlertParser

    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    except OSError as err:
        print(f"pyhik replay: cannot read {args.file}: {err.strerror}", file=sys.stderr)
        return EXIT_FAILED
    framer = MultipartFramer(None)
    parse_alert = AlertParser().parse
    count = 0
    with source, _Tallied(SkipTally(), show_each=verbose > 0) as tally:
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
    skipped = tally.summary()
    if not count:
        print(f"pyhik replay: no alert found in {args.file}" + (f": {skipped}" if skipped else ""),
              file=sys.stderr)
        return EXIT_FAILED
    if skipped:
        print(f"pyhik replay: {skipped}", file=sys.stderr)
    return EXIT_OK


def alert_record(alert: Any) -> Dict[str, Any]:
    """The JSON form of an alert (``pyhik replay --json``)."""
    return {"event": alert.event, "name": alert.event_type.name, "state": alert.state,
            "channel": alert.channel, "io_port": alert.io_port, "count": alert.count,
            "time": alert.time, "target": alert.target, "description": alert.description,
            "heartbeat": alert.heartbeat, "retransmission": alert.retransmission,
            "ongoing": alert.ongoing}


def alert_line(alert: Any) -> str:
    """The plain form of an alert: time, type, state, where, extras."""
    where = f"io {alert.io_port}" if alert.io_port is not None else f"channel {alert.channel}"
    extras: List[str] = [f"count {alert.count}"] if alert.count is not None else []
    extras += ["heartbeat"] if alert.heartbeat else []
    extras += ["retransmitted"] if alert.retransmission else []
    extras += [f"target {alert.target}"] if alert.target else []
    return (f"{alert.time or '-'}  {alert.event_type.name} ({alert.event})  {alert.state}  "
            f"{where}  {', '.join(extras)}").rstrip()


def replay_arguments(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser)


def cmd_replay(args: argparse.Namespace) -> int:
    return run(args, verbose=verbosity(args))
