"""Flatten a JSON alert body into string maps that pyhik.protocol.alerts turns into an Alert.

Devices that push JSON (radars, access controllers, newer cameras) use the key names of
the XML ``EventNotificationAlert``: ``eventType``, ``eventState``, ``channelID``, ...
Numbers come as JSON numbers or as strings; both end up as strings here so the XML and
JSON paths share one set of field rules. Nested objects (``CIDEvent``,
``AccessControllerEvent``) are walked for their leaf keys and never fail the parse.

This module imports only the standard library.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple

__all__ = ["JsonAlertError", "flatten_alert"]

WRAPPER_KEYS = ("EventNotificationAlert", "eventNotificationAlert", "alert", "Alert")
"""Keys under which some senders nest the alert object, tried first."""


class JsonAlertError(ValueError):
    """The body is not a JSON alert; the message says why."""


def flatten_alert(body: bytes) -> Tuple[Dict[str, str], Dict[str, str]]:
    """Parse a JSON alert body into (top-level scalars, all leaf keys).

    The first map holds the scalar members of the alert object itself; the second every
    leaf key anywhere in it, first occurrence in document order (lists are walked).
    Values are strings: booleans ``"true"``/``"false"``, null ``""``, integral floats
    without ``.0``. Raises :class:`JsonAlertError` when the body is not a JSON object
    carrying an ``eventType``.
    """
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        # Non-UTF-8 bytes (a GB2312 channel name): keep going with replacement chars.
        data = _loads_text(body.decode("utf-8", "replace"))
    except RecursionError:
        raise JsonAlertError("JSON nested too deeply") from None
    except ValueError as err:
        raise JsonAlertError("invalid JSON: %s" % err) from None
    if not isinstance(data, dict):
        raise JsonAlertError("JSON top level is %s, not an object" % type(data).__name__)
    alert = _find_alert(data)
    if alert is None:
        raise JsonAlertError("JSON object has no eventType")
    top = {key: _text(value) for key, value in alert.items()
           if not isinstance(value, (dict, list))}
    return top, _leaves(alert)


def _loads_text(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise JsonAlertError("JSON nested too deeply") from None
    except ValueError as err:
        raise JsonAlertError("invalid JSON: %s" % err) from None


def _find_alert(data: Dict[str, Any]) -> Any:
    """The object holding ``eventType``: the top level, or one wrapper level down."""
    if "eventType" in data:
        return data
    for key in WRAPPER_KEYS:
        inner = data.get(key)
        if isinstance(inner, dict) and "eventType" in inner:
            return inner
    for inner in data.values():
        if isinstance(inner, dict) and "eventType" in inner:
            return inner
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value.strip()
    return str(value)


def _leaves(root: Dict[str, Any]) -> Dict[str, str]:
    """Leaf keys -> text, first occurrence in document order (iterative: no recursion)."""
    out: Dict[str, str] = {}
    stack: List[Tuple[Any, Any]] = [(None, root)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((key, item) for item in reversed(value))
        elif key is not None and key not in out:
            out[key] = _text(value)
    return out
