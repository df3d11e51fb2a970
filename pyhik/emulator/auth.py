"""Server-side HTTP authentication of the emulator: Digest (MD5, qop=auth) and Basic.

Nonces are stateless: a timestamp and a salt signed with a per-boot secret, so any number of
clients can hold one without the server keeping a table. The nonce count is not checked for
replays (a test bed, not a vault).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import os
import re
import time
from typing import Dict, List, Optional

SCHEMES = ("digest", "basic", "both")
NONCE_LIFETIME_S = 600.0
_PARAM_RE = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))')
_ESCAPE_RE = re.compile(r"\\(.)")


class AuthResult(enum.Enum):
    """What a request's Authorization header amounts to."""

    OK = "ok"
    MISSING = "missing"
    STALE = "stale"
    """Right credentials on an expired or foreign nonce: challenge again with stale=TRUE."""
    REJECTED = "rejected"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 (the protocol's hash)


def parse_params(text: str) -> Dict[str, str]:
    """``key=value, key="quoted"`` pairs of a Digest header (keys lower-cased)."""
    out: Dict[str, str] = {}
    for match in _PARAM_RE.finditer(text):
        key, quoted, plain = match.groups()
        out.setdefault(key.lower(), _ESCAPE_RE.sub(r"\1", quoted) if quoted is not None else plain)
    return out


class Authenticator:
    """Checks credentials the way a Hikvision device does; one per emulated device."""

    def __init__(self, username: str, password: str, scheme: str, realm: str) -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"auth must be one of {', '.join(SCHEMES)}, not {scheme!r}")
        self.username = username
        self.password = password
        self.scheme = scheme
        self.realm = realm
        self._secret = os.urandom(16)

    def rotate(self) -> None:
        """Forget every nonce handed out (as a reboot does)."""
        self._secret = os.urandom(16)

    def challenges(self, stale: bool = False) -> List[str]:
        """The WWW-Authenticate header values of a 401, Digest first."""
        out = []
        if self.scheme in ("digest", "both"):
            out.append(f'Digest qop="auth", realm="{self.realm}", nonce="{self._new_nonce()}", '
                       f'stale="{"TRUE" if stale else "FALSE"}"')
        if self.scheme in ("basic", "both"):
            out.append(f'Basic realm="{self.realm}"')
        return out

    def check(self, method: str, uri: str, header: Optional[str]) -> AuthResult:
        """Judge one request's ``Authorization`` header."""
        if not header or not header.strip():
            return AuthResult.MISSING
        try:  # http.server decodes headers as Latin-1; clients send names in UTF-8
            header = header.encode("latin-1").decode("utf-8")
        except UnicodeError:
            pass
        kind, _, rest = header.strip().partition(" ")
        kind = kind.lower()
        if kind == "basic" and self.scheme in ("basic", "both"):
            return self._check_basic(rest.strip())
        if kind == "digest" and self.scheme in ("digest", "both"):
            return self._check_digest(method, uri, parse_params(rest))
        return AuthResult.REJECTED

    def _check_basic(self, token: str) -> AuthResult:
        try:
            user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, ValueError):
            return AuthResult.REJECTED
        ok = sep and hmac.compare_digest(user.encode(), self.username.encode()) \
            and hmac.compare_digest(password.encode(), self.password.encode())
        return AuthResult.OK if ok else AuthResult.REJECTED

    def _check_digest(self, method: str, uri: str, p: Dict[str, str]) -> AuthResult:
        if any(k not in p for k in ("username", "realm", "nonce", "uri", "response")):
            return AuthResult.REJECTED
        if p["username"] != self.username or p["realm"] != self.realm or p["uri"] != uri:
            return AuthResult.REJECTED
        if p.get("algorithm", "MD5").upper() != "MD5":
            return AuthResult.REJECTED
        ha1 = _md5(f"{self.username}:{self.realm}:{self.password}")
        ha2 = _md5(f"{method}:{uri}")
        qop = p.get("qop")
        if qop is None:
            expected = _md5(f"{ha1}:{p['nonce']}:{ha2}")
        elif qop == "auth" and "nc" in p and "cnonce" in p:
            expected = _md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        else:
            return AuthResult.REJECTED
        if not hmac.compare_digest(expected.encode(), p["response"].lower().encode("utf-8")):
            return AuthResult.REJECTED
        return AuthResult.OK if self._nonce_fresh(p["nonce"]) else AuthResult.STALE

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode("ascii"), hashlib.sha256).hexdigest()[:24]

    def _new_nonce(self) -> str:
        stamp = f"{int(time.monotonic()) & 0xFFFFFFFF:08x}{os.urandom(4).hex()}"
        return stamp + self._sign(stamp)

    def _nonce_fresh(self, nonce: str) -> bool:
        if len(nonce) != 40:
            return False
        stamp, signature = nonce[:16], nonce[16:]
        try:
            if not hmac.compare_digest(signature.encode("utf-8"), self._sign(stamp).encode()):
                return False
            issued = int(stamp[:8], 16)
        except (ValueError, UnicodeEncodeError):
            return False
        return 0 <= int(time.monotonic()) - issued <= NONCE_LIFETIME_S
