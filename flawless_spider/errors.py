"""Turn download failures into the error classes of the findings export."""

from __future__ import annotations

import logging
from typing import Any

from OpenSSL.SSL import Error as TLSError
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet import error as net
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

NETWORK_ERRORS = (CannotResolveHostError, DownloadConnectionRefusedError, DownloadTimeoutError,
                  DownloadFailedError, ResponseDataLossError, net.ConnectError, net.TimeoutError)


class QuietNetworkErrors(logging.Filter):
    """Drop the traceback from log records about a site being unreachable: it is not a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], NETWORK_ERRORS):
            record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__})"
            record.exc_info = None
            record.exc_text = None
        return True


class BlockedAddress(IgnoreRequest):
    """The address guard refused the request: its host resolves to a non-public address."""


def classify_exception(exc: BaseException | Failure | Any) -> str:
    """``dns``, ``refused``, ``timeout``, ``tls``, ``blocked``, ``too_many_redirects``, ... or ``network``."""
    if isinstance(exc, Failure):
        exc = exc.value
    if isinstance(exc, BlockedAddress):
        return "blocked"
    # Scrapy 2.14+ wraps the transport's errors; the original is kept as the cause.
    if isinstance(exc, CannotResolveHostError):
        return "dns"
    if isinstance(exc, DownloadConnectionRefusedError):
        return "refused"
    if isinstance(exc, DownloadTimeoutError):
        return "timeout"
    if isinstance(exc, ResponseDataLossError):
        return "connection_lost"
    if isinstance(exc, DownloadFailedError) and exc.__cause__ is not None:
        inner = classify_exception(exc.__cause__)
        if inner != "network":
            return inner
        text = str(exc).lower()
        return "tls" if ("ssl" in text or "tls" in text or "certificate" in text) else "network"
    if isinstance(exc, net.DNSLookupError):
        return "dns"
    if isinstance(exc, net.ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (net.TimeoutError, net.TCPTimedOutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, TLSError) or "SSL" in type(exc).__name__:
        return "tls"
    if isinstance(exc, (ResponseFailed, ResponseNeverReceived)):
        reasons = getattr(exc, "reasons", []) or []
        for reason in reasons:
            inner = classify_exception(reason)
            if inner != "network":
                return inner
        text = " ".join(str(r) for r in reasons).lower()
        if "ssl" in text or "tls" in text or "certificate" in text:
            return "tls"
        return "network"
    if isinstance(exc, IgnoreRequest):
        message = str(exc).lower()
        if "robots.txt" in message:
            return "robots"
        if "max redirections" in message or "redirect" in message:
            return "too_many_redirects"
        if "maxsize" in message or "size" in message:
            return "too_large"
        return "ignored"
    if isinstance(exc, net.ConnectionLost | net.ConnectionDone):
        return "connection_lost"
    if "cancel" in type(exc).__name__.lower() and "size" in str(exc).lower():
        return "too_large"
    return "network"
