"""Shared pieces of the digest tests: a real SMTP server on loopback and database helpers.

Imported by the other ``test_digest_*`` modules (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from scrapy.settings import Settings

from flawless_spider.db import Database
from flawless_spider.findings import finding


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)


@dataclass
class SMTPSink:
    """aiosmtpd handler: keeps every message; ``reply`` makes RCPT answer with an error."""

    received: list[Received] = field(default_factory=list)
    reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.reply:
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      bytes(envelope.original_content or envelope.content)))
        return "250 Message accepted"


@dataclass
class SMTPServer:
    port: int
    sink: SMTPSink
    controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@contextmanager
def running_smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 and a random port, running (for fixtures)."""
    server = SMTPServer(free_port(), SMTPSink())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def settings(**values: Any) -> Settings:
    """Project-like settings for calling the digest functions directly."""
    base = {
        "FLAWLESS_MAIL_FROM": "Flawless <flawless@flawless.example>",
        "FLAWLESS_UNSUBSCRIBE_URL": "",
        "FLAWLESS_WEEKLY_SUMMARY": False,
        "SMTP_URL": "",
        "FLAWLESS_MAIL_RETRY_DELAY": 0,
    }
    base.update(values)
    return Settings(base)


def add_site(db: Database, domain: str = "example.com", email: str | None = "owner@example.com",
             ) -> int:
    from flawless_spider.sites import SiteRegistry

    return SiteRegistry(db).add(f"https://{domain}/", email)[0].id


def link(page: str, url: str, status: int | None = 404, error: str | None = None,
         text: str = "a link") -> dict:
    return finding("link", page, "error", key=url, url=url, status=status, error=error,
                   element="a", text=text)


def word(page: str, w: str, suggestions: tuple[str, ...] = (), context: str = "") -> dict:
    return finding("spelling", page, "warning", key=w.lower(), word=w,
                   suggestions=list(suggestions), context=context or f"A {w} here.",
                   language="en_US")


def crawl(db: Database, site_id: int, findings: list[dict], status: str = "complete",
          cfg: Settings | None = None, titles: dict[str, str] | None = None,
          fetched: list[str] | None = None, kind: str = "full") -> int:
    """One crawl, recorded by the store's own code: pages and findings written, then the close.

    ``fetched``: the pages this crawl fetched and checked (2xx HTML), the evidence for "fixed";
    by default every page the site's findings were ever on, plus those of ``findings``.
    """
    from flawless_spider.crawls import start_crawl
    from flawless_spider.items import FindingsBatch, Page
    from pipelines.store.pipeline import write_batch
    from pipelines.store.recorder import finish_crawl

    crawl_id = start_crawl(db, site_id, kind)
    if fetched is None:
        known = db.query("SELECT DISTINCT page_url FROM findings WHERE site_id = %s", (site_id,))
        fetched = [r["page_url"] for r in known] + [f["page_url"] for f in findings]
    titles = {**dict.fromkeys(fetched, ""), **(titles or {})}
    pages = [Page(url=url, final_url=url, status=200, site_id=site_id, crawl_id=crawl_id,
                  title=title, html="<p>page</p>", content_type="text/html")
             for url, title in titles.items()]
    write_batch(db, pages, [FindingsBatch(site_id, crawl_id, findings, source="test")])
    checked = ["link", "link:external", "spelling", "grammar"] if status != "failed" else []
    finish_crawl(db, site_id, crawl_id, status, None if status == "complete" else "stopped",
                 {}, cfg or settings(), checked)
    return crawl_id


def outbox_rows(db: Database) -> list[dict]:
    return db.query("SELECT * FROM outbox ORDER BY id")


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts of a digest (and checks they are its multipart/alternative: the
    whole message, or its first part when the full list is attached)."""
    if message.get_content_type() == "multipart/mixed":
        message = message.get_payload()[0]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    return text, html
