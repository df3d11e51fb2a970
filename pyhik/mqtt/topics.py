"""MQTT topic names and identifiers of the bridge (pure: no I/O, no clock)."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from typing import Optional

DEFAULT_BASE = "pyhik"
DEFAULT_DISCOVERY_PREFIX = "homeassistant"
QOS = 1
"""QoS of every publish and subscription, the Last Will included."""
ONLINE, OFFLINE = "online", "offline"
STATE_ON, STATE_OFF = "ON", "OFF"

_DEVICE_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_-]")
_BRIDGE_UNSAFE_RE = re.compile(r"[^a-z0-9_-]")


def device_topic_id(device_id: str) -> str:
    """``<device>``: the device's stable id with each character outside ``[A-Za-z0-9_-]``
    replaced by ``_`` (case kept)."""
    return _DEVICE_UNSAFE_RE.sub("_", device_id)


def bridge_id_of(text: str) -> str:
    """A bridge id from any text (a host name): lower case, reduced to ``[a-z0-9_-]``."""
    cleaned = _BRIDGE_UNSAFE_RE.sub("_", text.strip().lower()).strip("_")
    return cleaned or "bridge"


def default_bridge_id(hostname: Optional[str] = None) -> str:
    """The host name (its first label), reduced to ``[a-z0-9_-]``."""
    name = hostname if hostname is not None else socket.gethostname()
    return bridge_id_of(name.split(".")[0])


def valid_topic_level(text: str) -> bool:
    """Usable as one topic level: not empty, no ``/``, ``+``, ``#`` or NUL."""
    return bool(text) and not any(c in text for c in "/+#\0")


@dataclass(frozen=True)
class Topics:
    """Every topic name of one bridge."""

    bridge_id: str
    base: str = DEFAULT_BASE
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX

    # Fixed names, worked out once (see __post_init__).
    client_id: str = field(init=False)
    """The MQTT client id, ``pyhik-<bridge-id>``."""
    bridge_availability: str = field(init=False)
    bridge_info: str = field(init=False)
    bridge_device_id: str = field(init=False)
    """The bridge's Home Assistant device id, the ``via_device`` of its devices."""
    ha_status: str = field(init=False)
    """Home Assistant's birth and last will."""
    device_config_filter: str = field(init=False)
    entity_config_filter: str = field(init=False)

    def __post_init__(self) -> None:
        bridge, prefix = f"{self.base}/bridge/{self.bridge_id}", self.discovery_prefix
        for name, value in (("client_id", f"pyhik-{self.bridge_id}"),
                            ("bridge_availability", f"{bridge}/availability"),
                            ("bridge_info", f"{bridge}/info"),
                            ("bridge_device_id", f"pyhik_bridge_{self.bridge_id}"),
                            ("ha_status", f"{prefix}/status"),
                            ("device_config_filter", f"{prefix}/device/+/config"),
                            ("entity_config_filter", f"{prefix}/binary_sensor/+/+/config")):
            object.__setattr__(self, name, value)  # a frozen dataclass

    # -- devices and sensors -------------------------------------------------------------
    def availability(self, device: str) -> str:
        return f"{self.base}/{device}/availability"

    def state(self, device: str, key: str) -> str:
        return f"{self.base}/{device}/{key}/state"

    def attributes(self, device: str, key: str) -> str:
        return f"{self.base}/{device}/{key}/attributes"

    def events(self, device: str) -> str:
        return f"{self.base}/{device}/events"

    # -- Home Assistant ------------------------------------------------------------------
    def device_config(self, node: str) -> str:
        """Device-based discovery (Home Assistant 2024.11+)."""
        return f"{self.discovery_prefix}/device/{node}/config"

    def entity_config(self, node: str, key: str) -> str:
        """One entity's discovery (older Home Assistant, openHAB)."""
        return f"{self.discovery_prefix}/binary_sensor/{node}/{key}/config"

