"""Reads Home Assistant style YAML: ``!secret``, ``!include`` and ``!env_var`` tags work.

Users point ``pyhik watch --config`` at their ``configuration.yaml``, which often keeps
passwords in ``secrets.yaml`` (``password: !secret hik_password``) and splits sections
into files (``binary_sensor: !include binary_sensors.yaml``). Other Home Assistant tags
(``!include_dir_merge_named``, ``!input`` ...) load as None: they never hold our entries.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, Optional

import yaml

from pyhik.errors import ConfigError

_LOGGER = logging.getLogger(__name__)
SECRETS_FILE = "secrets.yaml"
MAX_INCLUDE_DEPTH = 8


def load_yaml(path: str) -> Any:
    """Parse a YAML file, resolving Home Assistant's tags relative to its folder."""
    return _Reader(os.path.dirname(os.path.abspath(path))).load(path, 0)


class _Reader:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._secrets: Optional[Dict[str, Any]] = None

    def load(self, path: str, depth: int) -> Any:
        if depth > MAX_INCLUDE_DEPTH:
            raise ConfigError(f"{path}: !include nested more than {MAX_INCLUDE_DEPTH} deep")
        reader = self

        class Loader(yaml.SafeLoader):
            pass

        def secret(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
            return reader.secret(str(loader.construct_scalar(node)))

        def include(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
            name = str(loader.construct_scalar(node))
            return reader.load(os.path.join(os.path.dirname(path), name), depth + 1)

        def env_var(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
            name, _, default = str(loader.construct_scalar(node)).partition(" ")
            value = os.environ.get(name, default or None)
            if value is None:
                raise ConfigError(f"!env_var {name}: the environment variable is not set")
            return value

        def other(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> None:
            _LOGGER.debug("ignoring the YAML tag %s", node.tag)
            return

        Loader.add_constructor("!secret", secret)
        Loader.add_constructor("!include", include)
        Loader.add_constructor("!env_var", env_var)
        Loader.add_multi_constructor("!", other)
        text = _read_text(path)
        try:
            return yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(err)}") from None

    def secret(self, name: str) -> Any:
        if self._secrets is None:
            path = os.path.join(self.folder, SECRETS_FILE)
            if not os.path.exists(path):
                raise ConfigError(f"!secret {name}: no {SECRETS_FILE} beside the configuration")
            loaded = self.load(path, 0)
            self._secrets = loaded if isinstance(loaded, dict) else {}
        if name not in self._secrets:
            raise ConfigError(f"!secret {name}: not found in {SECRETS_FILE}")
        return self._secrets[name]


def _read_text(path: str) -> str:
    """The file as text; anything but UTF-8 (a Latin-1 file, a binary) is one ConfigError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    if b"\0" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{path} is not a text file (it holds NUL bytes): pass the YAML "
                          "configuration file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise ConfigError(f"{path} is not UTF-8 text (line {line}: byte 0x{data[err.start]:02x}); "
                          "save it as UTF-8, as Home Assistant requires") from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's several-line message as one line: what is wrong and where."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or getattr(err, "reason", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
