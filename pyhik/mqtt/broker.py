"""The ``--broker`` URL: ``mqtt://[USER[:PASS]@]HOST[:PORT]`` or ``mqtts://...`` (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional
from urllib.parse import unquote, urlsplit

from pyhik.errors import ConfigError, PyhikError

BROKER_ENV = "PYHIK_MQTT_BROKER"
PASSWORD_ENV = "PYHIK_MQTT_PASSWORD"
PORTS = {"mqtt": 1883, "mqtts": 8883}


class BrokerError(PyhikError):
    """The broker cannot be used: unreachable, login refused, TLS failed."""


@dataclass(frozen=True)
class Broker:
    """Where and how to reach the broker."""

    host: str
    port: int
    tls: bool = False
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """The URL without the password, for messages."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"


def parse_broker(url: Optional[str], env: Mapping[str, str]) -> Broker:
    """Validate ``url`` (else ``$PYHIK_MQTT_BROKER``); the password may come from
    ``$PYHIK_MQTT_PASSWORD`` when the URL has none."""
    url = url or env.get(BROKER_ENV)
    if not url:
        raise ConfigError(f"--broker mqtt://HOST[:PORT] is required (or set {BROKER_ENV})")
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        raise ConfigError("--broker: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    # The user info is cut off before anything parses the URL, so that no error message can
    # echo a part of the password (an unescaped / or # would end the host part early).
    userinfo, at, hostpart = rest.rpartition("@")
    if at and any(c in userinfo for c in "/?#[]"):
        raise ConfigError("--broker: the user name or password holds a character that must be "
                          "percent-encoded in a URL (/ as %2F, # as %23, ? as %3F, @ as %40, "
                          ": in the user name as %3A), or put the password in "
                          f"{PASSWORD_ENV}")
    try:
        parts = urlsplit(f"{scheme}://{hostpart}")
        port = parts.port
    except ValueError as err:
        raise ConfigError(f"--broker: not a valid URL ({err})") from None
    if parts.scheme not in PORTS:
        raise ConfigError(f"--broker: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT], "
                          f"got scheme {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise ConfigError("--broker: the URL has no host (mqtt://HOST[:PORT])")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("--broker: the URL takes no path or query (mqtt://HOST[:PORT])")
    username: Optional[str] = None
    password: Optional[str] = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) if user else None
        password = unquote(secret) if colon else None
    if password is None and username is not None:
        password = env.get(PASSWORD_ENV)
    return Broker(host=parts.hostname, port=port or PORTS[parts.scheme],
                  tls=parts.scheme == "mqtts", username=username, password=password)
