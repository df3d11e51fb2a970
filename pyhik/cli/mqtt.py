"""``pyhik mqtt``: the command line of the MQTT bridge (argument parsing and exit codes).

``add_arguments(parser)`` gives ``pyhik mqtt`` its options; ``run(args)`` runs it.
Bad configuration, an unreachable broker at start and a refused login print one line on
stderr and exit 1. SIGINT / SIGTERM publish ``offline`` everywhere and exit 0.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from typing import Any, List, Mapping, Optional

from pyhik.errors import ConfigError, PyhikError
from pyhik.mqtt.topics import DEFAULT_BASE, DEFAULT_DISCOVERY_PREFIX, default_bridge_id, valid_topic_level

from .watch import freeze_setup

EXIT_OK, EXIT_FAILED = 0, 1
CONNECT_TIMEOUT_S = 12.0
"""Leaves time to stop within the promised 15 s from start to the error line."""
_BRIDGE_ID_RE = re.compile(r"^[a-z0-9_-]+$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``pyhik mqtt``."""
    parser.add_argument("--config", "-c", metavar="FILE.yaml", required=True,
                        help="Home Assistant style YAML: the 'platform: hikvision' entries "
                             "under binary_sensor (customize delay/ignored honoured)")
    parser.add_argument("--broker", metavar="URL",
                        help="mqtt://[USER[:PASS]@]HOST[:PORT] or mqtts://... (or set "
                             "PYHIK_MQTT_BROKER; the password may come from PYHIK_MQTT_PASSWORD)")
    parser.add_argument("--base-topic", default=DEFAULT_BASE, metavar="TOPIC",
                        help=f"first level of every state topic (default {DEFAULT_BASE})")
    parser.add_argument("--discovery-prefix", default=DEFAULT_DISCOVERY_PREFIX, metavar="PREFIX",
                        help=f"Home Assistant discovery prefix (default {DEFAULT_DISCOVERY_PREFIX})")
    parser.add_argument("--discovery", choices=("device", "entity", "none"), default="device",
                        help="device: one message per device (Home Assistant 2024.11+, the "
                             "default); entity: one per sensor (older Home Assistant, "
                             "openHAB); none")
    parser.add_argument("--bridge-id", metavar="ID",
                        help="this bridge's id, [a-z0-9_-] (default: the host name); give "
                             "every bridge on one broker its own")
    parser.add_argument("--tls-ca", metavar="FILE",
                        help="CA certificate(s) to verify an mqtts:// broker (default: the "
                             "system's CAs)")
    parser.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT_S, metavar="S",
                        help=f"give up when the broker is not reached at start within S "
                             f"seconds (default {CONNECT_TIMEOUT_S:g})")
    parser.add_argument("--no-verify-ssl", action="store_true",
                        help="accept the devices' self-signed certificates (not the broker's)")


class Options:
    """Validated settings of one ``pyhik mqtt`` run."""

    def __init__(self, args: argparse.Namespace, env: Mapping[str, str]) -> None:
        from pyhik.mqtt.broker import parse_broker
        from pyhik.sensors.config import load_file

        self.broker = parse_broker(args.broker, env)
        if args.tls_ca and not self.broker.tls:
            raise ConfigError("--tls-ca needs an mqtts:// broker URL")
        if args.tls_ca and not os.path.isfile(args.tls_ca):
            raise ConfigError(f"--tls-ca: no such file: {args.tls_ca}")
        self.bridge_id = args.bridge_id if args.bridge_id is not None else default_bridge_id()
        if not _BRIDGE_ID_RE.match(self.bridge_id):
            raise ConfigError(f"--bridge-id: use only a-z, 0-9, _ and -, got {self.bridge_id!r}")
        for flag, value in (("--base-topic", args.base_topic),
                            ("--discovery-prefix", args.discovery_prefix)):
            if not all(valid_topic_level(level) for level in value.split("/")):
                raise ConfigError(f"{flag}: not a usable topic ({value!r}: no empty level, "
                                  "+, # or NUL)")
        if not args.connect_timeout > 0:
            raise ConfigError("--connect-timeout: expected seconds > 0")
        self.configs: List[Any] = load_file(args.config)
        if args.no_verify_ssl:
            from dataclasses import replace
            self.configs = [replace(c, verify_ssl=False) for c in self.configs]
        self.args = args


def run(args: argparse.Namespace, *, stop: Optional[threading.Event] = None,
        env: Optional[Mapping[str, str]] = None, **bridge_options: Any) -> int:
    """Run the bridge until SIGINT / SIGTERM (or ``stop``); returns the exit code."""
    try:
        from pyhik.mqtt.bridge import Bridge
        from pyhik.mqtt.topics import Topics
    except ImportError as err:
        print(f"pyhik mqtt: needs paho-mqtt 2.x: pip install 'pyhik[mqtt]' ({err})",
              file=sys.stderr)
        return EXIT_FAILED
    stop = stop or threading.Event()
    try:
        options = Options(args, os.environ if env is None else env)
        topics = Topics(options.bridge_id, args.base_topic, args.discovery_prefix)
        bridge = Bridge(options.configs, options.broker, topics, discovery=args.discovery,
                        tls_ca=args.tls_ca, **bridge_options)
        with signals_set(stop):
            bridge.start(args.connect_timeout, stop)
            freeze_setup()
            try:
                while not stop.wait(0.5):
                    pass
            finally:
                bridge.stop()
    except PyhikError as err:
        print(f"pyhik mqtt: {err}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


class signals_set:
    """SIGINT and SIGTERM set ``stop`` while inside (main thread only)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.previous: dict = {}

    def __enter__(self) -> "signals_set":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, lambda *_: self.stop.set())
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
