"""``scrapy sites add`` as an operator uses it: updates keep what was not given, input is checked."""

from __future__ import annotations


def test_updating_the_owner_keeps_schedule_and_language(scrapy, db):
    scrapy("sites", "add", "https://example.com/", "--email", "a@example.com",
           "--every", "weekly", "--language", "en-gb")
    result = scrapy("sites", "add", "https://example.com/", "--email", "b@example.com", "--update")
    assert "Updated site" in result.stdout
    [site] = db.query("SELECT owner_email, schedule, language FROM sites")
    assert site == {"owner_email": "b@example.com", "schedule": "weekly", "language": "en_GB"}


def test_bad_language_and_bare_words_are_refused_and_change_nothing(scrapy, db):
    for args, message in [
        (("https://example.com/", "--language", "english!"), "not a language tag: 'english!'"),
        (("examplecom",), "not a valid URL: 'examplecom'"),
    ]:
        result = scrapy("sites", "add", *args, "--email", "a@example.com", check=False)
        assert result.returncode == 1, result
        assert message in result.stderr and "Traceback" not in result.stderr
    assert db.query("SELECT id FROM sites") == []


def test_a_language_without_dictionary_is_kept_with_a_warning(scrapy, db):
    result = scrapy("sites", "add", "example.com", "--email", "a@example.com", "--language", "xx_YY")
    assert result.returncode == 0
    assert "warning: no Hunspell dictionary for xx_YY" in result.stderr
    assert db.query("SELECT language FROM sites") == [{"language": "xx_YY"}]
    quiet = scrapy("sites", "add", "example.com", "--email", "a@example.com", "--language", "en_US")
    assert "warning" not in quiet.stderr


def test_list_counts_open_problems_like_the_report(serve, scrapy, tmp_path):
    (tmp_path / "index.html").write_text(
        '<html lang="en"><body><p>Home. <a href="/gone.html">Old</a> <a href="/a.html">A</a></p>'
        "</body></html>")
    (tmp_path / "a.html").write_text(
        '<html lang="en"><body><p>Page A. <a href="/gone.html#top">Old</a></p></body></html>')
    srv = serve(tmp_path)
    scrapy("crawl", "site", "-a", f"url={srv.url}", "-s", "LOG_LEVEL=WARNING")
    report = scrapy("report", srv.url).stdout
    assert report.count("gone.html") == 1
    assert f"    on {srv.url}\n    on {srv.url}a.html" in report
    row = scrapy("sites", "list").stdout.splitlines()[1]
    assert row.split()[-1] == "1", row
