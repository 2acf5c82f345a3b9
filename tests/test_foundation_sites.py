"""``scrapy sites``: the operator's commands, run for real."""

from __future__ import annotations


def test_add_list_remove(scrapy, db):
    out = scrapy("sites", "add", "https://www.Example.com/", "--email", "Owner@Example.com",
                 "--every", "weekly", "--language", "en_GB").stdout
    assert "Added site 1: https://www.example.com/" in out
    [row] = db.query("SELECT * FROM sites")
    assert (row["domain"], row["schedule"], row["language"]) == ("example.com", "weekly", "en_GB")
    assert row["owner_email"].lower() == "owner@example.com"
    listing = scrapy("sites", "list").stdout
    assert "https://www.example.com/" in listing and "weekly" in listing and "never" in listing
    again = scrapy("sites", "add", "example.com", "--email", "new@example.com", "--update").stdout
    assert again.startswith("Updated site 1: https://www.example.com/")
    assert scrapy("sites", "remove", "www.example.com", "--yes").stdout.startswith("Removed site 1")
    assert db.query("SELECT * FROM sites") == []
    assert "No sites yet" in scrapy("sites", "list").stdout


def test_user_mistakes_are_clear_errors_and_change_nothing(scrapy, db):
    cases = [
        (("sites", "add", "https://example.com/"), 2, "--email OWNER is required"),
        (("sites", "add", "https://example.com/", "--email", "not-an-address"), 1,
         "not a valid e-mail address"),
        (("sites", "add", "https://example.com/", "--email", "a@example.com\nBcc: x@evil.test"), 1,
         "not a valid e-mail address"),
        (("sites", "add", "ftp://example.com/", "--email", "a@example.com"), 1,
         "only http:// and https://"),
        (("sites", "add", "https://example.com/", "--email", "a@example.com", "--every", "monthly"),
         2, "invalid choice: 'monthly'"),
        (("sites", "remove", "nowhere.example"), 1, "no such site: 'nowhere.example'"),
        (("sites", "frobnicate"), 2, "unknown action 'frobnicate'"),
        (("report", "nowhere.example"), 1, "no such site"),
    ]
    for args, code, message in cases:
        result = scrapy(*args, check=False)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert db.query("SELECT * FROM sites") == []


def test_site_words(scrapy, db):
    scrapy("sites", "add", "https://example.com/", "--email", "a@example.com")
    assert "Added 2 word(s)" in scrapy("sites", "words", "add", "example.com", "Flawless",
                                       "Scrapy").stdout
    assert "Added 0 word(s)" in scrapy("sites", "words", "add", "1", "Scrapy").stdout
    assert scrapy("sites", "words", "list", "example.com").stdout.split() == ["Flawless", "Scrapy"]
    scrapy("sites", "words", "remove", "example.com", "Scrapy")
    assert [r["word"] for r in db.query("SELECT word FROM site_words")] == ["Flawless"]


def test_report_before_any_crawl_says_what_to_do(scrapy):
    scrapy("sites", "add", "https://example.com/", "--email", "a@example.com")
    result = scrapy("report", "example.com", check=False)
    assert result.returncode == 1
    assert "no finished crawl yet: run `scrapy crawl site -a site=example.com`" in result.stderr


def test_an_update_may_leave_out_the_owner(scrapy, db):
    scrapy("sites", "add", "https://example.com/", "--email", "a@example.com")
    out = scrapy("sites", "add", "example.com", "--every", "weekly").stdout
    assert out.startswith("Updated site 1") and "owner a@example.com" in out and "weekly" in out
    # A new site still needs its owner.
    result = scrapy("sites", "add", "https://other.example/", check=False)
    assert result.returncode == 2 and "--email OWNER is required" in result.stderr
