"""Deliver the outbox: over SMTP (``SMTP_URL``) or, without it, as files in the outbox folder.

``SMTP_URL`` is ``smtp://user:pass@host:port`` (STARTTLS when the server offers it) or
``smtps://...`` (TLS from the first byte). Replies 4xx, refused connections and timeouts are
temporary: the row goes back to the queue with an exponential backoff. Replies 5xx are
permanent: the row is marked ``failed`` with the server's reason. smtplib blocks, which is
fine: this runs in a command, not on the crawler's reactor.
"""

from __future__ import annotations

import email
import email.policy
import ipaddress
import logging
import os
import re
import smtplib
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from flawless_spider.db import Database, state_dir
from pipelines.digest import outbox

logger = logging.getLogger(__name__)

DEFAULT_CLAIM_TIMEOUT = 900.0
DEFAULT_RETRY_DELAY = 60.0
MAX_RETRY_DELAY = 6 * 3600.0
DEFAULT_MAX_ATTEMPTS = 12


class DeliveryError(Exception):
    """Delivery of one message failed; ``permanent`` says whether retrying can help."""

    permanent = False


class TemporaryError(DeliveryError):
    """Try again later (4xx reply, timeout, connection refused)."""


class PermanentError(DeliveryError):
    """Give up on this message (5xx reply)."""

    permanent = True


class UnavailableError(TemporaryError):
    """The server cannot be used at all right now: stop this run, keep the queue."""


class ConfigError(ValueError):
    """``SMTP_URL`` (or another mail setting) is unusable."""


@dataclass
class SMTPConfig:
    """``SMTP_URL``, parsed."""

    host: str
    port: int
    implicit_tls: bool
    username: str = ""
    password: str = ""
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SMTPConfig:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"SMTP_URL is not a valid URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("SMTP_URL must look like smtp://user:pass@host:port or smtps://...")
        return cls(
            host=parts.hostname,
            port=port or (465 if scheme == "smtps" else 25),
            implicit_tls=scheme == "smtps",
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
        )

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


def _reply(exc: smtplib.SMTPException) -> tuple[int | None, str]:
    """The SMTP reply code and text of an smtplib error."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, text = next(iter(exc.recipients.values()))
        return code, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    code = getattr(exc, "smtp_code", None)
    text = getattr(exc, "smtp_error", b"")
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return code, text


def classify(exc: BaseException) -> DeliveryError:
    """Map an smtplib/socket error to a temporary or permanent failure, keeping the reason."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return UnavailableError(f"server disconnected: {exc}")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # Our credentials, not this message: keep every digest queued until the setting is fixed.
        code, text = _reply(exc)
        return UnavailableError(f"authentication failed: {code} {text}".strip())
    if isinstance(exc, smtplib.SMTPException):
        code, text = _reply(exc)
        reason = f"{code} {text}".strip() if code else str(exc)
        if code is not None and 500 <= code <= 599:
            return PermanentError(reason)
        return TemporaryError(reason)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return UnavailableError(f"TLS error: {exc}")
    if isinstance(exc, OSError):
        return UnavailableError(f"cannot reach the SMTP server: {exc.strerror or exc}")
    return TemporaryError(f"{type(exc).__name__}: {exc}")


class SMTPTransport:
    """One SMTP connection for a run, opened on first use and reopened after a drop."""

    def __init__(self, config: SMTPConfig):
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def describe(self) -> str:
        scheme = "smtps" if self.config.implicit_tls else "smtp"
        return f"{scheme}://{self.config.host}:{self.config.port}"

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if cfg.implicit_tls:
            smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        try:
            smtp.ehlo()
            secure = cfg.implicit_tls
            if not secure and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
                secure = True
            if cfg.username:
                if not secure and not cfg.loopback:
                    raise ConfigError(
                        f"{self.describe()} does not offer STARTTLS; refusing to send the "
                        "SMTP password in clear text (use smtps:// or a server with STARTTLS)"
                    )
                smtp.login(cfg.username, cfg.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, row: dict[str, Any]) -> None:
        message = row["message"]
        parsed = email.message_from_bytes(message, policy=email.policy.SMTP)
        sender = parsed["From"].addresses[0].addr_spec if parsed["From"] else ""
        for attempt in range(2):
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                self._smtp.sendmail(sender, [row["to_addr"]], message)
                return
            except smtplib.SMTPServerDisconnected as exc:
                self.close()
                if attempt == 1:
                    raise classify(exc) from exc
            except ConfigError:
                raise
            except (smtplib.SMTPException, OSError) as exc:
                failure = classify(exc)
                if isinstance(failure, UnavailableError):
                    self.close()
                else:
                    self._reset()
                raise failure from exc

    def _reset(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.rset()
            except (smtplib.SMTPException, OSError):
                self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


class FileTransport:
    """Without ``SMTP_URL``: write ``<id>-<domain>.eml`` (and ``.html``) into a folder.

    The name comes from the outbox id, so a retried row overwrites its own file: no duplicates.
    """

    def __init__(self, folder: Path):
        self.folder = folder

    def describe(self) -> str:
        return str(self.folder)

    def path_for(self, row: dict[str, Any]) -> Path:
        domain = re.sub(r"[^a-z0-9.-]+", "_", str(row.get("domain") or "site").lower())[:100]
        return self.folder / f"{row['id']:06d}-{domain}.eml"

    def send(self, row: dict[str, Any]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.path_for(row)
            self._write(target.with_suffix(".html"), row["html"].encode("utf-8"))
            self._write(target, row["message"])
        except OSError as exc:
            raise UnavailableError(f"cannot write to the outbox folder {self.folder}: {exc}") from exc

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def close(self) -> None:
        pass


Transport = SMTPTransport | FileTransport


def outbox_folder(settings: Any) -> Path:
    """``FLAWLESS_OUTBOX_DIR``, or ``<FLAWLESS_STATE_DIR>/outbox``."""
    configured = settings.get("FLAWLESS_OUTBOX_DIR") if settings is not None else None
    return Path(configured).expanduser() if configured else state_dir(settings) / "outbox"


def transport_from_settings(settings: Any) -> Transport:
    url = settings.get("SMTP_URL") if settings is not None else ""
    if url:
        return SMTPTransport(SMTPConfig.from_url(url))
    return FileTransport(outbox_folder(settings))


def retry_delay(attempts: int, base: float) -> float:
    """Exponential backoff: ``base``, 2 base, 4 base, ... capped at six hours."""
    return min(MAX_RETRY_DELAY, base * 2 ** max(0, attempts - 1))


@dataclass
class SendResult:
    """What one run of the sender did, per outbox row."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    retry: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    failed: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    stopped: str = ""
    """Why the run stopped early (the server is down), if it did."""


class Sender:
    """Claims outbox rows one at a time and delivers them.

    Each claim is committed before the message goes out and each outcome right after, so a
    crash leaves at most one row in ``sending``, which the claim timeout hands to the next run.
    """

    def __init__(self, db: Database, settings: Any, transport: Transport | None = None):
        self.db = db
        self.transport = transport or transport_from_settings(settings)
        self.worker = outbox.worker_id()
        self.claim_timeout = settings.getfloat("FLAWLESS_MAIL_CLAIM_TIMEOUT", DEFAULT_CLAIM_TIMEOUT)
        self.retry_base = settings.getfloat("FLAWLESS_MAIL_RETRY_DELAY", DEFAULT_RETRY_DELAY)
        self.max_attempts = settings.getint("FLAWLESS_MAIL_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)

    def run(self, site_id: int | None = None, limit: int | None = None) -> SendResult:
        """Deliver due rows (of ``site_id``, or all) until none is left or the server is down."""
        result = SendResult()
        tried: set[int] = set()
        try:
            while limit is None or len(result.sent) + len(result.failed) < limit:
                with self.db.transaction() as cur:
                    row = outbox.claim(cur, self.worker, self.claim_timeout, site_id, tried)
                if row is None:
                    break
                tried.add(row["id"])
                if not self._deliver(row, result):
                    break
        finally:
            self.transport.close()
        return result

    def _deliver(self, row: dict[str, Any], result: SendResult) -> bool:
        """Send one claimed row and record the outcome; ``False`` to stop the run."""
        try:
            self.transport.send(row)
        except ConfigError:
            with self.db.transaction() as cur:
                outbox.release(cur, row["id"], self.worker)
            raise
        except DeliveryError as exc:
            reason = str(exc) or type(exc).__name__
            with self.db.transaction() as cur:
                if exc.permanent or row["attempts"] >= self.max_attempts:
                    if not exc.permanent:
                        reason = f"gave up after {row['attempts']} attempts: {reason}"
                    outbox.mark_failed(cur, row["id"], self.worker, reason)
                    result.failed.append((row, reason))
                    logger.error("digest %s to %s failed: %s", row["id"], row["to_addr"], reason)
                else:
                    delay = retry_delay(row["attempts"], self.retry_base)
                    outbox.mark_retry(cur, row["id"], self.worker, reason, delay)
                    result.retry.append((row, reason))
                    logger.warning(
                        "digest %s to %s not sent, retrying in %.0f s: %s",
                        row["id"], row["to_addr"], delay, reason,
                    )
            if isinstance(exc, UnavailableError):
                result.stopped = reason
                return False
            return True
        with self.db.transaction() as cur:
            if outbox.mark_sent(cur, row["id"], self.worker):
                result.sent.append(row)
                logger.info("sent digest %s to %s", row["id"], row["to_addr"])
            else:  # our claim expired and another sender took the row over meanwhile
                logger.warning("digest %s: claim lost while sending", row["id"])
        return True


def send_outbox(
    db: Database, settings: Any, site_id: int | None = None, limit: int | None = None
) -> SendResult:
    """Deliver the due outbox rows once (``scrapy digest --send``)."""
    return Sender(db, settings).run(site_id=site_id, limit=limit)
