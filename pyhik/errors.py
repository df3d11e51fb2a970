"""The exceptions pyhik raises: one tree under PyhikError, device errors under requests'.

Every problem with a device derives from both :class:`PyhikError` and
:class:`requests.exceptions.RequestException`, because Home Assistant's hikvision
integration catches only the latter around the calls it makes.
"""

from __future__ import annotations

from typing import Any, Optional

import requests

__all__ = ["PyhikError", "ConfigError", "DeviceError", "AuthenticationError",
           "PermissionDeniedError", "DeviceUnreachableError", "UnsupportedDeviceError",
           "RedirectError"]


class PyhikError(Exception):
    """Base of everything pyhik raises."""


class ConfigError(PyhikError, ValueError):
    """A setting is missing or invalid (the message names it)."""


class DeviceError(PyhikError, requests.exceptions.RequestException):
    """A device could not be used; ``response`` holds its answer when there was one."""


class AuthenticationError(DeviceError):
    """The device rejected the user name or password (HTTP 401 after answering its challenge).

    Retrying with the same credentials is harmful: Hikvision devices lock the client's
    address out after a few failed logins.
    """


class PermissionDeniedError(DeviceError):
    """The user logged in but may not do this (HTTP 403 without a 'not supported' status)."""


class DeviceUnreachableError(DeviceError):
    """No HTTP answer: connection refused, timeout, name resolution or TLS failure."""


class UnsupportedDeviceError(DeviceError):
    """The device answers, but not like a Hikvision ISAPI device (or lacks this feature)."""


class RedirectError(DeviceError):
    """The device answered with a redirect (HTTP 3xx), which pyhik never follows.

    ISAPI does not redirect; following one would send the request, and the answer to a
    login challenge, to whatever host the ``Location`` names. ``location`` holds it
    (None when the answer had none).
    """

    def __init__(self, *args: Any, location: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.location = location
