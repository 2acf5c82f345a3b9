"""Scrapy's HTTP download handler, whose connection pool never hands out a connection being closed.

When a download is stopped (``StopDownload``, which the link checks raise after the first chunk
of a body) Scrapy closes the connection from inside the data callback. If that chunk was also the
end of the response, Twisted's parser finishes the response in the same call and puts the
connection, already closing, back into its pool. The next request to the host takes it, is
written, and is answered to a socket that closes: Twisted then retries it on a new connection,
and the server sees the same request twice (measured: 20 to 46 of 400 link checks of one site,
none of them in Scrapy's or our logs). Here a connection that is closing or aborted is dropped
instead of pooled.
"""

from __future__ import annotations

from typing import Any

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from twisted.web.client import HTTPConnectionPool


class ReuseSafePool(HTTPConnectionPool):
    """Twisted's pool that keeps only connections still open."""

    def _putConnection(self, key: Any, connection: Any) -> None:  # noqa: N802 (Twisted's name)
        transport = connection.transport
        if transport is None or getattr(transport, "disconnecting", False) or getattr(
                transport, "_aborting", False):
            return  # closing already: its connectionLost tidies up; it must not be reused
        super()._putConnection(key, connection)


class ReuseSafeDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler with :class:`ReuseSafePool` as its connection pool."""

    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        pool = ReuseSafePool(self._pool._reactor, persistent=True)
        pool.maxPersistentPerHost = self._pool.maxPersistentPerHost
        pool._factory = self._pool._factory
        self._pool = pool
