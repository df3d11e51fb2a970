"""What the ``pyhik`` commands read alike: exit codes, device options, passwords, configs."""

from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List, Optional, Union

PASSWORD_ENV = "PYHIK_PASSWORD"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_DEVICE_FLAGS = ("host", "port", "ssl", "username", "password", "name")
"""Options that say what --config FILE says, so never given with it."""


def device_arguments(parser: argparse.ArgumentParser, *, config: bool) -> None:
    parser.add_argument("--host", help="camera or NVR address: 192.168.1.64, http://cam.local, "
                                       "https://cam:8443, ::1 or [::1]:8080")
    parser.add_argument("--port", type=int, default=None,
                        help="HTTP(S) port (default 80, or 443 with --ssl or an https:// host)")
    parser.add_argument("--ssl", action="store_true", default=None, help="use HTTPS")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--ca-file", metavar="PATH",
                     help="trust the device's certificate if this CA bundle (PEM file or "
                          "c_rehash'd folder) signed it")
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


def verbosity(args: argparse.Namespace) -> int:
    """-v given before and after the subcommand add up (``pyhik -v watch -v`` is -vv)."""
    return int(getattr(args, "verbose", 0) or 0) + int(getattr(args, "verbose_after", 0) or 0)


# -- watch -------------------------------------------------------------------------------
def password_of(args: argparse.Namespace) -> Optional[str]:
    return args.password if args.password is not None else os.environ.get(PASSWORD_ENV)


def verify_from_args(args: argparse.Namespace) -> Union[bool, str]:
    """requests' ``verify`` from --ca-file / --no-verify-ssl: a CA bundle path or a bool
    (checked by :func:`pyhik.isapi.http.check_verify`, as every ``verify_ssl`` is)."""
    from pyhik.errors import ConfigError
    from pyhik.isapi.http import check_verify

    if getattr(args, "no_verify_ssl", False):
        return False
    ca_file = getattr(args, "ca_file", None)
    if ca_file:
        try:
            return check_verify(os.path.abspath(os.path.expanduser(ca_file)))
        except ConfigError:
            raise ConfigError(f"--ca-file {ca_file}: no such file or folder (a CA bundle: "
                              "a PEM file or a c_rehash'd folder)") from None
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
    password = password_of(args)
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
