"""The owners' web app in tests: a real ``scrapy serve`` (gunicorn) on loopback, plain HTTP calls.

Import the ``app_server`` fixture into a test module to use it.
"""

from __future__ import annotations

import email
import email.policy
import http.client
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import lxml.html
import pytest

from tests.test_digest_support import free_port

PROJECT = Path(__file__).resolve().parents[1]
SECRET = "test-secret-key-0123456789abcdefghijklmnop"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    @property
    def tree(self) -> lxml.html.HtmlElement:
        return lxml.html.document_fromstring(self.body)


@dataclass
class AppServer:
    """A running ``scrapy serve``; ``env`` is what crawls and digests need to link to it."""

    url: str
    process: subprocess.Popen
    env: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, target: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        """One request, redirects not followed (``target``: a path or a URL of this server)."""
        parts = urlsplit(target)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = http.client.HTTPConnection(urlsplit(self.url).netloc, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                          response.read().decode("utf-8", "replace"))
        finally:
            conn.close()

    def get(self, target: str) -> Answer:
        return self.request("GET", target)

    def post(self, target: str, fields: dict[str, str] | None = None) -> Answer:
        return self.request("POST", target, urlencode(fields or {}).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})


def start_app(env: dict[str, str]) -> AppServer:
    """Start ``scrapy serve`` with ``env`` on a free port and wait until it answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app_env = {"FLAWLESS_PUBLIC_URL": base, "FLAWLESS_SECRET_KEY": SECRET}
    process = subprocess.Popen(
        [sys.executable, "-m", "scrapy", "serve", "--port", str(port), "--workers", "1"],
        cwd=PROJECT, env={**env, **app_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = AppServer(base, process, app_env)
    for _ in range(240):  # readiness, not a timing assertion: up to a minute on a busy machine
        if process.poll() is not None:
            raise AssertionError(f"scrapy serve exited {process.returncode}: "
                                 f"{process.stderr.read().decode()[-3000:]}")
        try:
            if server.get("/healthz").status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.25)
    process.kill()
    raise AssertionError("scrapy serve did not answer")


@pytest.fixture
def app_server(scrapy_env: dict[str, str]) -> Iterator[AppServer]:
    server = start_app(scrapy_env)
    yield server
    server.process.terminate()  # gunicorn stops gracefully on SIGTERM
    try:
        server.process.wait(timeout=30)
    finally:
        server.process.stderr.close()


def message(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def html_part(msg: EmailMessage) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(msg.get_body(("html",)).get_content())


def link_named(tree: lxml.html.HtmlElement, text: str) -> str:
    """The href of the (first) link whose text contains ``text``."""
    hrefs = [a.get("href") for a in tree.iter("a") if text in a.text_content()]
    assert hrefs, f"no link {text!r}"
    return hrefs[0]


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]
