"""pyhik: Hikvision camera and NVR alert streams as on/off sensors.

``import pyhik`` stays light: the pure parser and state modules import without
``requests``; the network-facing names below load on first use (PEP 562).
"""

from importlib import import_module
from typing import Any

__version__ = "1.0.0.dev0"

_LAZY = {
    "HikCamera": "pyhik.hikvision",
    "VideoChannel": "pyhik.hikvision",
    "get_video_channels": "pyhik.hikvision",
    "inject_events_into_camera": "pyhik.hikvision",
    "HikDevice": "pyhik.stream.device",
    "IsapiClient": "pyhik.isapi.client",
    "EmulatedDevice": "pyhik.emulator",
    "PyhikError": "pyhik.errors",
    "DeviceError": "pyhik.errors",
    "RedirectError": "pyhik.errors",
    "AuthenticationError": "pyhik.errors",
    "PermissionDeniedError": "pyhik.errors",
    "DeviceUnreachableError": "pyhik.errors",
    "UnsupportedDeviceError": "pyhik.errors",
    "ConfigError": "pyhik.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyhik' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return __all__
