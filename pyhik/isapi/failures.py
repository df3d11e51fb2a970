"""What a failed ISAPI request means, in words: the typed error for each kind of failure.

A transport failure names its real cause (no route, refused, a timeout, which TLS check
failed: a plain-HTTP port is not an untrusted certificate); a refused login says why it
is not retried (lock-outs); a 403 names the permission to give; a redirect names where it
pointed, and nothing is sent there.
"""

from __future__ import annotations

import re
import ssl
from typing import List, Optional, Tuple
from urllib.parse import urlsplit

import requests

from pyhik.errors import (
    AuthenticationError,
    DeviceError,
    DeviceUnreachableError,
    PermissionDeniedError,
    RedirectError,
)

from .http import ChallengeAuth, Verify, response_status

__all__ = ["access_error", "login_refused", "redirect_error", "tls_failure", "transport_error"]

_OBJECT_REPR_RE = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>:?\s*")
_LOCKOUT_ADVICE = ("Not retried: Hikvision devices lock this client's address out for up to "
                   "30 minutes after 7 failed admin logins (5 for other users), so check the "
                   "credentials before trying again.")
MAX_LOCATION_CHARS = 200
"""A longer Location is cut short in the error message."""
# A 403 with these subStatusCodes means "no such feature here", not "not allowed".
_NOT_SUPPORTED_SUB_STATUS = frozenset({"notsupport", "invalidoperation"})
_PERMISSION_ADVICE = ("Give the user the 'Remote: Notify Surveillance Center/Trigger Alarm "
                      "Output' permission (Configuration > System > User Management); some "
                      "devices only accept an admin account.")


def access_error(response: requests.Response, host: str, username: Optional[str],
                 auth: Optional[ChallengeAuth], method: str, path: str) -> Optional[DeviceError]:
    """The error of a 401, or of a 403 that is not "unsupported here"; None otherwise.

    The response is closed when an error is returned; a refused login also forgets the
    auth's nonces, so the next try costs one failed login, not two.
    """
    status = response.status_code
    if status == 401:
        response.close()
        if auth is not None:
            auth.forget_nonces()
        return AuthenticationError(login_refused(host, username, auth), response=response)
    if status != 403:
        return None
    detail = response_status(response)
    if detail is not None and detail.sub_status_code.lower() in _NOT_SUPPORTED_SUB_STATUS:
        return None  # an unsupported feature; the caller treats it like any non-2xx
    response.close()
    return PermissionDeniedError(
        f"{host}: user {username!r} may not {method} {path} (HTTP 403"
        f"{': ' + str(detail) if detail else ''}). {_PERMISSION_ADVICE}", response=response)


def redirect_error(where: str, method: str, path: str,
                   response: requests.Response) -> RedirectError:
    """The error for a 3xx answer to ``method path``: it names the Location."""
    location = response.headers.get("Location")
    shown = (location if location is None or len(location) <= MAX_LOCATION_CHARS
             else location[:MAX_LOCATION_CHARS] + "...")
    target = f"a redirect to {shown}" if location else "a redirect without a Location"
    hint = ""
    if location and urlsplit(location).scheme.lower() == "https" and \
            not response.url.lower().startswith("https:"):
        hint = " If the device only serves HTTPS, set ssl: true (and its HTTPS port)."
    return RedirectError(
        f"{where} answered {method} {path} with HTTP {response.status_code}, {target}. "
        "ISAPI devices do not redirect and pyhik follows no redirect (it would send the "
        f"request and the login to another host).{hint}", location=location,
        response=response)


def login_refused(host: str, username: Optional[str], auth: Optional[ChallengeAuth]) -> str:
    """The message of a 401 that answering the challenge did not get past."""
    if auth is None:
        return f"{host} requires a user name and password (HTTP 401)"
    if auth.scheme is None and auth.offered:
        return (f"{host} asks for {', '.join(auth.offered)} authentication, which pyhik "
                "cannot answer (it speaks Digest and Basic)")
    if auth.scheme is None:
        return f"{host} refused the request (HTTP 401) without an auth challenge"
    return (f"{host} rejected the login of user {username!r} (HTTP 401): wrong user name or "
            f"password. {_LOCKOUT_ADVICE}")


def transport_error(where: str, err: requests.exceptions.RequestException,
                    timeout: Tuple[float, float], verify: Verify = True) -> DeviceError:
    """The typed error for a request that got no usable HTTP answer from ``where``.

    ``verify`` is the request's certificate check (requests' ``verify``): a TLS failure
    is explained in its terms.
    """
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return DeviceUnreachableError(f"cannot reach {where}: no connection within "
                                      f"{timeout[0]:g} s")
    if isinstance(err, requests.exceptions.Timeout):
        return DeviceUnreachableError(f"{where} accepted the connection but did not answer "
                                      f"within {timeout[1]:g} s")
    reason = getattr(err.args[0], "reason", None) if err.args else None
    cause = _OBJECT_REPR_RE.sub("", str(reason or err))
    if isinstance(err, requests.exceptions.SSLError):
        return DeviceUnreachableError(f"cannot reach {where} over TLS: "
                                      f"{tls_failure(err, verify)}")
    if isinstance(err, requests.exceptions.ConnectionError):
        return DeviceUnreachableError(f"cannot reach {where}: {_short_cause(cause)}")
    return DeviceError(f"{where}: {type(err).__name__}: {cause}")


# OpenSSL's X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code).
_X509_NOT_YET_VALID, _X509_EXPIRED = 9, 10
_X509_HOSTNAME_MISMATCH, _X509_IP_ADDRESS_MISMATCH = 62, 64
_NO_VERIFY_ADVICE = "verify_ssl: false (CLI --no-verify-ssl)"


def tls_failure(err: BaseException, verify: Verify = True) -> str:
    """Why a TLS connection failed, in words that say what to change.

    Plain HTTP on the port (OpenSSL's WRONG_VERSION_NUMBER) is not an untrusted
    certificate, which is not a certificate for another host name.
    """
    text = " ".join(str(e) for e in _exception_chain(err))
    lowered = text.lower()
    for found in _exception_chain(err):
        if isinstance(found, ssl.SSLCertVerificationError):
            return _certificate_failure(found.verify_code,
                                        found.verify_message or str(found), verify)
    if "wrong version number" in lowered or "wrong_version_number" in lowered:
        return "this port speaks plain HTTP: use ssl: false or the HTTP port (usually 80)"
    if "certificate verify failed" in lowered or "doesn't match" in lowered:
        match = re.search(r"certificate verify failed: ([^(\]'\"]+)", text)
        detail = match.group(1).strip() if match else "certificate verify failed"
        code = _X509_HOSTNAME_MISMATCH if "mismatch" in lowered or \
            "doesn't match" in lowered else None
        return _certificate_failure(code, detail, verify)
    reason = getattr(err.args[0], "reason", None) if err.args else None
    return _OBJECT_REPR_RE.sub("", str(reason or err))


def _certificate_failure(code: Optional[int], detail: str, verify: Verify) -> str:
    detail = detail.strip().rstrip(".")
    if code in (_X509_HOSTNAME_MISMATCH, _X509_IP_ADDRESS_MISMATCH) or \
            "mismatch" in detail.lower():
        return (f"the certificate is not valid for this host name or address ({detail}): "
                "connect by a name or address the certificate holds, or turn verification "
                f"off ({_NO_VERIFY_ADVICE})")
    if code in (_X509_NOT_YET_VALID, _X509_EXPIRED):
        return (f"the certificate is not valid now ({detail}): check the device's clock and "
                f"certificate, or turn verification off ({_NO_VERIFY_ADVICE})")
    if isinstance(verify, str):
        return (f"the certificate is not trusted by the CA bundle {verify} ({detail}): give "
                "the CA that signed the device's certificate, or turn verification off "
                f"({_NO_VERIFY_ADVICE})")
    return (f"the certificate is not trusted ({detail}): give its CA with verify_ssl: "
            "/path/ca.pem (CLI --ca-file) or turn verification off "
            f"({_NO_VERIFY_ADVICE})")


def _exception_chain(err: BaseException) -> List[BaseException]:
    """``err`` and the exceptions it wraps (requests -> urllib3 -> ssl), each once."""
    found: List[BaseException] = []
    todo: List[BaseException] = [err]
    while todo and len(found) < 16:
        current = todo.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        for inner in (getattr(current, "reason", None), current.__cause__,
                      current.__context__, *current.args[:1]):
            if isinstance(inner, BaseException):
                todo.append(inner)
    return found


_ERRNO_RE = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _short_cause(text: str) -> str:
    """The OS's words for a connection failure ("connection refused"), else the text."""
    match = _ERRNO_RE.search(text)
    if not match:
        return text
    words = match.group(1).strip().rstrip(".").lower()
    if "name or service not known" in words or "nodename nor servname" in words:
        return f"the host name does not resolve ({words})"
    return words
