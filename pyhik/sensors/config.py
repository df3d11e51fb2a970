"""Device configuration as the Home Assistant docs write it, validated (the YAML file is read by
:mod:`pyhik.sensors.yamlfile`).

A configuration entry has exactly the keys of the documentation's examples::

    platform: hikvision      # optional here; entries of other platforms are skipped
    host: 192.168.1.64       # required; http://..., https://...:8443, ::1, [::1]:8080 too
    port: 80                 # default 80, or 443 with ssl; "80" (quoted) works too
    ssl: false               # default false, or true for an https:// host; "no", "off" too
    verify_ssl: true         # not in the docs: true, false, or a CA bundle file or folder
    username: user
    password: pass
    name: Front Porch        # default: the device's own name
    customize:
      motion:                # camera: the type's slug; NVR: slug_channel (motion_1)
        delay: 30            # seconds the sensor stays on after the event ends (default 0)
                             # ("30" works too)
      line_crossing:
        ignored: true        # the sensor is not created (default false)

Anything else is a :class:`~pyhik.errors.ConfigError` that names the key and the valid
choices; nothing is half-applied. Values are read as Home Assistant's validators read them
(``"30"`` is 30; ``yes``/``no``/``on``/``off``/``1``/``0`` are booleans). The host is read
(scheme, IPv6, port, and the defaults of ``ssl`` and ``port``) by
:func:`pyhik.isapi.http.split_host`, as everywhere.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from pyhik.errors import ConfigError
from pyhik.isapi.http import check_verify, split_host
from pyhik.protocol import events

PLATFORM = "hikvision"
TOP_LEVEL_KEYS = ("platform", "host", "port", "ssl", "verify_ssl", "username", "password", "name",
                  "customize")
CUSTOMIZE_KEYS = ("delay", "ignored")
_KEY_RE = re.compile(r"^(?P<slug>[a-z0-9_]+?)(?:_(?P<channel>\d+))?$")


@dataclass(frozen=True)
class SensorOptions:
    """The ``customize`` options of one sensor."""

    delay: float = 0.0
    ignored: bool = False


@dataclass(frozen=True)
class DeviceConfig:
    """One device to watch, validated.

    :func:`parse_device` always sets ``port`` and ``ssl``; built directly, None leaves
    them to the host (``https://cam`` -> HTTPS on 443), as :func:`~pyhik.isapi.http.split_host`
    reads it.
    """

    host: str
    port: Optional[int] = None
    ssl: Optional[bool] = None
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    name: Optional[str] = None
    customize: Mapping[str, SensorOptions] = field(default_factory=dict)
    verify_ssl: Union[bool, str] = True
    """Not a key of the Home Assistant docs: True, False, or the path of a CA bundle file
    (requests' ``verify``); from the ``verify_ssl:`` key, ``--ca-file`` /
    ``--no-verify-ssl`` or Python."""

    def __post_init__(self) -> None:
        if "@" in str(self.host):  # user:password@host: refused, never shown in a repr
            split_host(self.host, self.port, self.ssl)


def canonical_key(key: str) -> str:
    """A customize key in slug form: ``"Line Crossing"`` and ``"i/o"`` (Home Assistant's own
    spelling of the I/O key) become ``line_crossing`` and ``i_o``."""
    return events.slugify(str(key))


def split_key(key: str) -> Tuple[events.EventType, Optional[int]]:
    """``"field_detection_2"`` -> (Field Detection, 2); ``"motion"`` -> (Motion, None)."""
    slug = canonical_key(key)
    etype = events.by_slug(slug)
    if etype is not None:
        return etype, None
    match = _KEY_RE.match(slug)
    if match and match.group("channel"):
        etype = events.by_slug(match.group("slug"))
        if etype is not None:
            return etype, int(match.group("channel"))
    valid = ", ".join(t.slug for t in events.DOCUMENTED_TYPES)
    hint = ""
    if match:
        known = [t.slug for t in events.EVENT_TYPES]
        close = difflib.get_close_matches(match.group("slug"), known, n=1)
        number = match.group("channel")
        if close:
            hint = f" (did you mean {close[0] + ('_' + number if number else '')!r}?)"
    raise ConfigError(f"customize: unknown sensor {key!r}{hint}; valid sensors are a type "
                      f"({valid}, ...), on an NVR followed by _ and the channel (motion_1)")


def _number(where: str, value: Any, *, minimum: float = 0.0) -> float:
    if isinstance(value, str):  # "30", as Home Assistant's vol.Coerce reads it
        try:
            value = float(value.strip())
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: expected a number of seconds >= {minimum:g}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{where}: must be >= {minimum:g} seconds, got {value!r}")
    return float(value)


_BOOLEAN_WORDS = {"1": True, "true": True, "yes": True, "on": True, "enable": True,
                  "0": False, "false": False, "no": False, "off": False, "disable": False}
"""As Home Assistant's ``cv.boolean`` reads text."""


def _boolean(where: str, value: Any) -> bool:
    """A boolean as Home Assistant's ``cv.boolean`` reads it: true/false, yes/no, on/off,
    1/0 (as YAML values or quoted, as ``port: "80"`` is), or a number (0 is false)."""
    if isinstance(value, str) and value.strip().lower() in _BOOLEAN_WORDS:
        return _BOOLEAN_WORDS[value.strip().lower()]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _verify(value: Any, base_dir: Optional[str]) -> Union[bool, str]:
    """verify_ssl: a boolean, or a CA bundle (relative to the config file's folder) that
    :func:`~pyhik.isapi.http.check_verify` accepts, as everywhere."""
    if isinstance(value, str) and value.strip().lower() not in _BOOLEAN_WORDS:
        path = os.path.expanduser(value.strip())
        if base_dir and path and not os.path.isabs(path):
            path = os.path.join(base_dir, path)
        return check_verify(path)
    return _boolean("verify_ssl", value)


def _text(where: str, value: Any) -> Optional[str]:
    """Like Home Assistant's string validator: numbers become text, None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{where}: expected text, got {value!r}")
    return str(value)


def parse_customize(raw: Any) -> Dict[str, SensorOptions]:
    """Validate a ``customize`` mapping."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"customize: expected a mapping of sensor -> options, got {raw!r}")
    result: Dict[str, SensorOptions] = {}
    for written, options in raw.items():
        split_key(str(written))
        key = canonical_key(written)
        if key in result:
            raise ConfigError(f"customize: {written!r} and another key both mean {key!r}")
        options = {} if options is None else options
        if not isinstance(options, Mapping):
            raise ConfigError(f"customize.{key}: expected delay and/or ignored, got {options!r}")
        unknown = [k for k in options if k not in CUSTOMIZE_KEYS]
        if unknown:
            raise ConfigError(f"customize.{key}: unknown option {unknown[0]!r}; "
                              f"valid options: {', '.join(CUSTOMIZE_KEYS)}")
        delay = _number(f"customize.{key}.delay", options.get("delay", 0))
        ignored = _boolean(f"customize.{key}.ignored", options.get("ignored", False))
        result[key] = SensorOptions(delay, ignored)
    return result


def parse_device(raw: Any, *, verify_ssl: Union[bool, str] = True,
                 base_dir: Optional[str] = None) -> DeviceConfig:
    """Validate one configuration entry (a mapping with the documented keys).

    ``verify_ssl`` applies where the entry has no ``verify_ssl`` key; a relative CA bundle
    path in the entry is taken from ``base_dir`` (the config file's folder).
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"expected a mapping with keys {', '.join(TOP_LEVEL_KEYS)}, got {raw!r}")
    unknown = [k for k in raw if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; valid keys: {', '.join(TOP_LEVEL_KEYS)}")
    platform = raw.get("platform", PLATFORM)
    if platform != PLATFORM:
        raise ConfigError(f"platform: expected {PLATFORM!r}, got {platform!r}")
    host = _text("host", raw.get("host"))
    if not host or not host.strip():
        raise ConfigError("host: required (the camera's or NVR's address)")
    ssl = None if raw.get("ssl") is None else _boolean("ssl", raw["ssl"])
    port = raw.get("port")
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 0 < port < 65536):
        raise ConfigError(f"port: expected a number from 1 to 65535, got {port!r}")
    # The one reading of a host: its scheme against ssl, its port, the defaults.
    scheme, _, port = split_host(host, port, ssl)
    ssl = scheme == "https"
    if raw.get("verify_ssl") is not None:
        verify_ssl = _verify(raw["verify_ssl"], base_dir)
    return DeviceConfig(
        host=host.strip(), port=port, ssl=ssl,
        username=_text("username", raw.get("username")),
        password=_text("password", raw.get("password")),
        name=_text("name", raw.get("name")),
        customize=parse_customize(raw.get("customize")), verify_ssl=verify_ssl)


def parse_document(document: Any, *, base_dir: Optional[str] = None) -> List[DeviceConfig]:
    """The hikvision entries of a Home Assistant style document (``binary_sensor:`` list).

    A bare entry or a bare list of entries is accepted too.
    """
    if isinstance(document, Mapping) and "binary_sensor" in document:
        entries = document["binary_sensor"]
        if isinstance(entries, Mapping):
            entries = [entries]
        if not isinstance(entries, list):
            raise ConfigError("binary_sensor: expected a list of platform entries")
        chosen = [e for e in entries if isinstance(e, Mapping) and e.get("platform") == PLATFORM]
    elif isinstance(document, list):
        chosen = document
    elif isinstance(document, Mapping):
        chosen = [document]
    else:
        raise ConfigError("expected a 'binary_sensor:' list with 'platform: hikvision' entries")
    if not chosen:
        raise ConfigError("no 'platform: hikvision' entry under binary_sensor")
    configs = []
    for index, entry in enumerate(chosen):
        try:
            configs.append(parse_device(entry, base_dir=base_dir))
        except ConfigError as err:
            prefix = f"entry {index + 1}" if len(chosen) > 1 else ""
            raise ConfigError(f"{prefix}: {err}" if prefix else str(err)) from None
    return configs


def load_file(path: str) -> List[DeviceConfig]:
    """Read a YAML file (Home Assistant style) and validate its hikvision entries."""
    from .yamlfile import load_yaml  # only the file loader needs PyYAML

    document = load_yaml(path)
    try:
        return parse_document(document, base_dir=os.path.dirname(os.path.abspath(path)))
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
