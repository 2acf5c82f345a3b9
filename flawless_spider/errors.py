"""Turn download failures into the error classes of the findings export."""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import IgnoreRequest
from twisted.internet import error as net
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

try:  # pragma: no cover - depends on the TLS stack in use
    from OpenSSL.SSL import Error as TLSError
except ImportError:  # pragma: no cover
    TLSError = ()  # type: ignore[assignment,misc]


class BlockedAddress(IgnoreRequest):
    """The address guard refused the request: its host resolves to a non-public address."""


def classify_exception(exc: BaseException | Failure | Any) -> str:
    """``dns``, ``refused``, ``timeout``, ``tls``, ``blocked``, ``too_many_redirects``, ... or ``network``."""
    if isinstance(exc, Failure):
        exc = exc.value
    if isinstance(exc, BlockedAddress):
        return "blocked"
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
