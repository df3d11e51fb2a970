"""MQTT topic names and identifiers of the bridge (pure: no I/O, no clock)."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
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

    # -- the bridge ----------------------------------------------------------------------
    @property
    def client_id(self) -> str:
        return f"pyhik-{self.bridge_id}"

    @property
    def bridge_availability(self) -> str:
        return f"{self.base}/bridge/{self.bridge_id}/availability"

    @property
    def bridge_info(self) -> str:
        return f"{self.base}/bridge/{self.bridge_id}/info"

    @property
    def bridge_device_id(self) -> str:
        """The bridge's Home Assistant device id, the ``via_device`` of its devices."""
        return f"pyhik_bridge_{self.bridge_id}"

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
    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    def device_config(self, node: str) -> str:
        """Device-based discovery (Home Assistant 2024.11+)."""
        return f"{self.discovery_prefix}/device/{node}/config"

    def entity_config(self, node: str, key: str) -> str:
        """One entity's discovery (older Home Assistant, openHAB)."""
        return f"{self.discovery_prefix}/binary_sensor/{node}/{key}/config"

    @property
    def device_config_filter(self) -> str:
        return f"{self.discovery_prefix}/device/+/config"

    @property
    def entity_config_filter(self) -> str:
        return f"{self.discovery_prefix}/binary_sensor/+/+/config"
