"""A whole crawl with ``LANGUAGETOOL_URL`` set, against a local server speaking LanguageTool's
documented ``/v2/check`` protocol (LanguageTool itself cannot be installed on these machines)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from tests.crawlkit import make_site


class LanguageToolProtocol(BaseHTTPRequestHandler):
    """Answers like LanguageTool: flags "irregardless" (grammar) and "speling" (a spelling rule)."""

    requests: list[dict] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        LanguageToolProtocol.requests.append({"path": self.path, **form})
        data = json.loads(form["data"][0])
        text = "".join(a.get("text", a.get("markup", "")) for a in data["annotation"])
        matches = []
        for word, rule, category in (("irregardless", "IRREGARDLESS", "GRAMMAR"),
                                     ("speling", "MORFOLOGIK_RULE_EN_US", "TYPOS")):
            start = text.find(word)
            if start >= 0:
                matches.append({
                    "message": f"Avoid \u201c{word}\u201d.", "shortMessage": "", "offset": start,
                    "length": len(word), "replacements": [{"value": "regardless"}],
                    "context": {"text": text[max(0, start - 20):start + 30], "offset": 20,
                                "length": len(word)},
                    "sentence": "", "rule": {"id": rule, "description": word,
                                             "category": {"id": category, "name": category}},
                })
        body = json.dumps({"software": {"name": "LanguageTool", "apiVersion": 1},
                           "language": {"code": form["language"][0]}, "matches": matches}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def languagetool():
    LanguageToolProtocol.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), LanguageToolProtocol)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_crawl_uses_languagetool_for_grammar(serve, scrapy, tmp_path, languagetool):
    site = make_site(tmp_path / "site", (
        '<!doctype html><html lang="en"><head><title>Notes</title></head><body>'
        "<p>We ship on Mondays irregardless of the weather, and we never miss a day.</p>"
        "<p>A speling mistake is left to our own spelling stage.</p></body></html>"))
    srv = serve(site)
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "FLAWLESS_FOLLOW_SITEMAPS=false",
           LANGUAGETOOL_URL=languagetool)
    assert LanguageToolProtocol.requests, "LanguageTool was never asked"
    first = LanguageToolProtocol.requests[0]
    assert first["path"] == "/v2/check" and first["language"][0].startswith("en")
    assert "TYPOS" in first["disabledCategories"][0]
    report = [json.loads(line) for line in scrapy(
        "report", srv.url.split("/")[2], "--format", "jsonl").stdout.splitlines()]
    grammar = [r for r in report if r["type"] == "grammar"]
    assert [(r["rule"], r["text"], r["suggestions"]) for r in grammar] == [
        ("IRREGARDLESS", "irregardless", ["regardless"])]
    assert "irregardless of the weather" in grammar[0]["context"]
    # LanguageTool's spelling rule is off: spelling is ours (Hunspell), reported once.
    spelling = [r["word"] for r in report if r["type"] == "spelling"]
    assert spelling == ["speling"]
