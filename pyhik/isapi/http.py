"""HTTP plumbing of the ISAPI client: auth, redirects, TLS settings, host parsing.

Auth follows the device's challenge. Requests go out without credentials until the device
answers 401; then Digest is used if offered (:class:`requests.auth.HTTPDigestAuth`, which
keeps a per-thread nonce and answers later challenges itself), Basic only if Basic is the
only scheme offered. The choice is kept for the life of the auth object.

Redirects are never followed (:class:`NoRedirectSession`): ISAPI does not redirect, and a
followed redirect would carry the request, and the answer to the next login challenge, to
whatever host the ``Location`` names. The client turns a 3xx into
:func:`pyhik.isapi.failures.redirect_error`; :mod:`pyhik.isapi.failures` words every failure.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
from typing import List, Optional, Tuple, Union
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

from pyhik.errors import ConfigError

from .models import ResponseStatus, parse_response_status, parse_xml

__all__ = ["challenge_schemes", "ChallengeAuth", "NoAuth", "NoRedirectSession", "split_host",
           "url_host", "response_status", "check_verify", "Verify", "MAX_ERROR_BODY_BYTES"]

_LOGGER = logging.getLogger(__name__)

MAX_ERROR_BODY_BYTES = 64 * 1024
"""At most this much of an error answer is read to find its ResponseStatus."""

_SCHEME_RE = re.compile(r"\s*([A-Za-z][\w!#$%&'*+.^`|~-]*)(?:\s+|$)")
_STATUS_ATTR = "_pyhik_response_status"

Verify = Union[bool, str]
"""requests' ``verify``: check the certificate (True), don't (False), or a CA bundle path."""


def challenge_schemes(response: requests.Response) -> List[str]:
    """Lower-case auth schemes of a response's WWW-Authenticate header(s), in order, once.

    Copes with several headers and with requests' comma-joined merge of them: a scheme
    is a token starting a comma-separated item that is not a ``name=value`` parameter.
    """
    values: List[str] = []
    getlist = getattr(getattr(response.raw, "headers", None), "getlist", None)
    if callable(getlist):
        values = [str(value) for value in getlist("WWW-Authenticate")]
    if not values:
        values = [response.headers.get("WWW-Authenticate", "")]
    schemes: List[str] = []
    for value in values:
        for item in _split_outside_quotes(value):
            match = _SCHEME_RE.match(item)
            if match and "=" not in item[:match.end()]:
                scheme = match.group(1).lower()
                if scheme not in schemes:
                    schemes.append(scheme)
    return schemes


def _split_outside_quotes(value: str) -> List[str]:
    items: List[str] = []
    current: List[str] = []
    quoted, escaped = False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item for item in items if item.strip()]


class NoRedirectSession(requests.Session):
    """A requests session that follows no redirect: a 3xx answer is returned as it came.

    Done here, not per call, so that every request of the session is covered, including
    the ones auth hooks resend on the same connection.
    """

    def get_redirect_target(self, resp: requests.Response) -> Optional[str]:
        """Never a target: requests then has nothing to follow."""
        return None


class Utf8DigestAuth(HTTPDigestAuth):
    """HTTPDigestAuth whose header carries a non-ASCII user name in UTF-8.

    requests hashes the user name and password as UTF-8 but sends the header as
    Latin-1 (and cannot send a name outside Latin-1 at all); curl and browsers send
    UTF-8, which is also what the hash was computed over.
    """

    def build_digest_header(self, method: str, url: str) -> Optional[str]:
        header = super().build_digest_header(method, url)
        if header is not None and not header.isascii():
            return header.encode("utf-8")  # bytes go out as-is
        return header


class NoAuth(AuthBase):
    """No credentials (and keeps requests from taking some from ~/.netrc)."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class ChallengeAuth(AuthBase):
    """Answer the device's challenge: Digest when offered, Basic only when alone.

    Until a challenge has been seen, requests carry no credentials. Digest challenges are
    answered by HTTPDigestAuth's own response hook; a Basic-only challenge is answered
    here, once. Either way one request gets at most one answer to a fresh challenge.
    """

    def __init__(self, username: str, password: str) -> None:
        self._digest = Utf8DigestAuth(username, password)
        # RFC 7617 (charset="UTF-8"), as curl and browsers send; requests would send
        # Latin-1, and each refused try costs a failed login. Digest hashes UTF-8 already.
        self._basic = HTTPBasicAuth(username.encode("utf-8"), password.encode("utf-8"))
        self._lock = threading.Lock()
        self.scheme: Optional[str] = None
        """``"digest"``, ``"basic"``, or None before the first answerable challenge."""
        self.offered: List[str] = []
        """What the last unanswerable challenge offered (for the error message)."""

    def forget_nonces(self) -> None:
        """After a refused login: the next request starts without credentials.

        Otherwise it would send an answer to the old nonce (one failed login) and then
        answer the new challenge (a second one): two failures per try, and Hikvision
        locks the client out after 5 to 7 failures in 30 minutes.
        """
        with self._lock:
            self._digest = Utf8DigestAuth(self._digest.username, self._digest.password)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        scheme = self.scheme
        if scheme == "basic":
            return self._basic(r)
        # No Authorization header until this thread has a nonce; answers a digest 401.
        r = self._digest(r)
        if scheme is None:
            r.register_hook("response", self._on_first_challenge)
        return r

    def _on_first_challenge(self, response: requests.Response, **kwargs: object
                            ) -> requests.Response:
        first = response.history[0] if response.history else response
        if first.status_code != 401:
            return response
        offered = challenge_schemes(first)
        chosen = "digest" if "digest" in offered else "basic" if offered == ["basic"] else None
        if chosen is None:
            self.offered = offered
            return response
        with self._lock:
            if self.scheme is None:
                self.scheme = chosen
                _LOGGER.debug("Device offers %s authentication; using %s", offered, chosen)
        if chosen == "digest" or response.history:
            return response  # HTTPDigestAuth has answered (or could not)
        response.content  # noqa: B018 - drain it, so the connection can be reused
        response.close()
        request = self._basic(response.request.copy())
        retry = response.connection.send(request, **kwargs)  # type: ignore[arg-type]
        retry.history.append(response)
        retry.request = request
        return retry


def check_verify(verify_ssl: object) -> Verify:
    """``verify_ssl`` as requests' ``verify``: True, False or the path of a CA bundle.

    A path (str or path-like) must exist, a PEM file or a c_rehash'd folder; raises
    ConfigError otherwise, before any connection is tried.
    """
    if isinstance(verify_ssl, bool):
        return verify_ssl
    if isinstance(verify_ssl, (str, os.PathLike)):
        path = os.fspath(verify_ssl)
        if isinstance(path, str) and path.strip():
            if not os.path.exists(path):
                raise ConfigError(f"verify_ssl: no CA bundle file or folder at {path!r}")
            return path
    raise ConfigError(f"verify_ssl must be true, false or the path of a CA bundle, "
                      f"not {verify_ssl!r}")


def split_host(host: str, port: Union[int, str, None], ssl: Optional[bool]
               ) -> Tuple[str, str, int]:
    """(scheme, host name, port) from what a user wrote: the one place that reads a host.

    ``host`` may be ``cam.local``, ``http://cam.local``, ``https://cam.local:8443``, an
    IPv4 address, a bare IPv6 address (``::1``: no port can follow it) or a bracketed one
    (``[::1]``, ``[::1]:8080``, ``http://[::1]:8080``). A port in ``host`` wins over
    ``port`` (an int, or digits as text: ``"8080"``); ``port`` None means 80 for http,
    443 for https. ``ssl`` None leaves the scheme to ``host`` (http without one);
    True/False asks for https/http, and contradicting a scheme written in ``host`` is an
    error. Refused, with a ConfigError like every other fault: a user name or password in
    the host (``admin:pw@cam``; never repeated in the message) and an IPv6 zone id
    (``fe80::1%eth0``: requests cannot connect to one).
    """
    text = str(host or "").strip()
    if not text:
        raise ConfigError("no host given")
    written, sep, rest = text.partition("://")
    if not sep:
        written, rest = "", text
    if "@" in rest.split("/", 1)[0]:  # checked first: no later message may quote it
        raise ConfigError("the host must not carry a user name or password (user:password@): "
                          "put the user name and password in username/password")
    scheme = written.lower()
    if scheme not in ("", "http", "https"):
        raise ConfigError(f"host {text!r}: the scheme must be http or https")
    netloc = rest.split("/", 1)[0]
    if netloc.count(":") >= 2 and not netloc.startswith("["):
        netloc = f"[{netloc}]"  # a bare IPv6 address: it cannot carry a port
    try:
        parsed = urlsplit(f"//{netloc}")
    except ValueError:  # an unclosed or invalid [IPv6] literal
        raise ConfigError(f"host {text!r}: not a valid address") from None
    try:
        host_port = parsed.port
    except ValueError:
        raise ConfigError(f"host {text!r}: invalid port") from None
    name = parsed.hostname or ""
    if not name or any(c.isspace() for c in name):
        raise ConfigError(f"host {text!r}: no host name")
    if "%" in name:
        raise ConfigError(f"host {text!r}: IPv6 zone ids (%eth0) are not supported (requests "
                          "cannot connect to them); use the device's global or ULA address")
    if ":" in name:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            raise ConfigError(f"host {text!r}: not a valid address") from None
    if ssl is not None:
        wanted = "https" if ssl else "http"
        if scheme and scheme != wanted:
            raise ConfigError(f"host {text!r} says {scheme}, but ssl is "
                              f"{'on' if ssl else 'off'}: drop the scheme or change ssl")
        scheme = wanted
    scheme = scheme or "http"
    number = host_port if host_port is not None else port
    if number is None:
        number = 443 if scheme == "https" else 80
    if isinstance(number, str) and number.strip().isdigit():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 65536:
        raise ConfigError(f"invalid port {number!r}")
    return scheme, name, number


def url_host(name: str) -> str:
    """A host name as a URL carries it: an IPv6 address in brackets (``[::1]``)."""
    return f"[{name}]" if ":" in name else name


def response_status(response: requests.Response) -> Optional[ResponseStatus]:
    """The ResponseStatus in a response's body, if it holds one.

    Reads at most MAX_ERROR_BODY_BYTES, once: the result is kept on the response, so a
    streaming body inspected early is not needed again.
    """
    if hasattr(response, _STATUS_ATTR):
        return getattr(response, _STATUS_ATTR)
    try:
        body = next(response.iter_content(MAX_ERROR_BODY_BYTES), b"")
    except (requests.exceptions.RequestException, RuntimeError, OSError):
        body = b""
    root = parse_xml(body) if isinstance(body, bytes) else None
    status = parse_response_status(root) if root is not None else None
    setattr(response, _STATUS_ATTR, status)
    return status
