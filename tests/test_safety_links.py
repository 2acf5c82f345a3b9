"""The link stage follows redirects by hand: never out of http(s) (file:, ftp:, ...)."""

from __future__ import annotations

from tests.crawlkit import FAST_LINKS, make_site, report_records


def test_a_link_check_never_follows_a_redirect_out_of_http(serve, scrapy, db, tmp_path):
    secret = tmp_path / "secret.css"
    site = make_site(tmp_path / "site", (
        "<html><head><title>Home</title>"
        f'<link rel="stylesheet" href="/__status/302?to=file://{secret}">'
        "</head><body><p>Hello.</p>"
        f'<img src="/__status/301?to=file://{tmp_path}/missing.png" alt="x">'
        "</body></html>"
    ))
    srv = serve(site)
    # A local file the link stage must not read (it would check its url() targets).
    secret.write_text(f"body {{ background: url({srv.url}leaked-from-local-file) }}\n")
    scrapy("crawl", "site", "-a", f"url={srv.url}", *FAST_LINKS)
    assert not any("leaked" in path for path in srv.paths()), srv.paths()
    links = {r["url"].removeprefix(srv.url): r for r in report_records(scrapy, srv.url)
             if r["type"] == "link"}
    for target in ("__status/302", "__status/301"):
        [record] = [r for url, r in links.items() if url.startswith(target)]
        assert record["severity"] == "error" and record["error"] == "invalid_url", record
        assert record["final_url"].startswith("file://")
