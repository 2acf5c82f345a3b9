"""Signed links for owners: HMAC tokens scoped to one site and one purpose, expiring.

A token is ``<payload>.<mac>`` in URL-safe base64, the payload being ``site.purpose.expires``.
The MAC (HMAC-SHA256 with ``FLAWLESS_SECRET_KEY``) also covers the site's owner address, so a
link stops working when the site changes hands. Tokens are checked with
:func:`hmac.compare_digest`, never with ``==``. Owners have no accounts: holding the link from
their digest is what lets them see and act on their site.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Any

PURPOSES = ("report", "unsubscribe")
"""``report``: the report page and its actions; ``unsubscribe``: unsubscribe, pause, resume."""
DEFAULT_DAYS = 90.0
_CONTEXT = b"flawless-owner-link-v1\x00"


class TokenError(ValueError):
    """The token is malformed, forged, expired, or for another site or purpose."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Makes and checks tokens with one secret key; ``days``: how long a new token is valid."""

    def __init__(self, key: bytes, days: float = DEFAULT_DAYS):
        if len(key) < 32:
            raise ValueError("the secret key must be at least 32 bytes long")
        self.key = key
        self.days = days

    def _mac(self, payload: str, owner: str) -> bytes:
        message = _CONTEXT + payload.encode("ascii") + b"\x00" + owner.strip().lower().encode()
        return hmac.new(self.key, message, hashlib.sha256).digest()

    def make(self, site_id: int, purpose: str, owner: str, now: float | None = None) -> str:
        """A token for ``purpose`` on site ``site_id`` owned by ``owner``."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        expires = int((time.time() if now is None else now) + self.days * 86400)
        payload = f"{int(site_id)}.{purpose}.{expires}"
        return f"{_b64(payload.encode('ascii'))}.{_b64(self._mac(payload, owner))}"

    @staticmethod
    def site_of(token: str) -> int | None:
        """The site a token claims to be for (unchecked: only to look the owner up)."""
        try:
            payload = _unb64(token.partition(".")[0]).decode("ascii")
            return int(payload.split(".")[0])
        except (ValueError, binascii.Error, UnicodeDecodeError, IndexError):
            return None

    def verify(self, token: str, site_id: int, purpose: str, owner: str,
               now: float | None = None) -> None:
        """Raise :class:`TokenError` unless ``token`` is ours, for this site and purpose, and
        not expired."""
        if not isinstance(token, str) or len(token) > 400 or token.count(".") != 1:
            raise TokenError("malformed")
        encoded, _, mac = token.partition(".")
        try:
            payload = _unb64(encoded).decode("ascii")
            given = _unb64(mac)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise TokenError("malformed") from None
        if not hmac.compare_digest(given, self._mac(payload, owner or "")):
            raise TokenError("forged")
        token_site, token_purpose, expires = [*payload.split("."), "", "", ""][:3]
        if token_site != str(int(site_id)) or token_purpose != purpose:
            raise TokenError("scope")
        if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
            raise TokenError("expired")


def secret_key(settings: Any = None) -> bytes:
    """``FLAWLESS_SECRET_KEY``, or a random key kept in ``<FLAWLESS_STATE_DIR>/secret_key``.

    The file is created once (mode 0600) and shared by every process on this machine, so
    ``scrapy serve`` verifies what the crawls signed. Several machines need the setting.
    """
    configured = (settings.get("FLAWLESS_SECRET_KEY") if settings is not None else None) or ""
    if configured:
        return str(configured).encode("utf-8")
    from flawless_spider.db import state_dir

    path = state_dir(settings) / "secret_key"
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # first writer wins; a racing process reads the winner's key
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_text(encoding="utf-8").strip().encode("utf-8")
    if len(key) < 32:
        raise ValueError(f"{path} holds no usable key (delete it to make a new one)")
    return key


def signer_from_settings(settings: Any) -> Signer:
    days = settings.getfloat("FLAWLESS_TOKEN_DAYS", DEFAULT_DAYS) if settings is not None else (
        DEFAULT_DAYS)
    return Signer(secret_key(settings), days)
