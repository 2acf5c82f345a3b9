"""The small parts of the owners' side: tokens, the secret key, text fragments, ignore lists."""

from __future__ import annotations

import stat
import time

import pytest
from scrapy.settings import Settings

from flawless_spider.config import SettingError, validate
from flawless_spider.dismissals import Dismissals, DismissError, check_prefix
from flawless_spider.web.links import text_fragment
from flawless_spider.web.tokens import Signer, TokenError, secret_key

KEY = b"k" * 40


def test_token_is_scoped_signed_and_expiring():
    signer = Signer(KEY)
    token = signer.make(7, "report", "Owner@Example.com")
    signer.verify(token, 7, "report", "owner@example.com")  # the owner's address, any case
    cases = {
        "forged": (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), 7, "report"),
        "scope": (token, 8, "report"),
    }
    for reason, (value, site, purpose) in cases.items():
        with pytest.raises(TokenError, match=reason):
            signer.verify(value, site, purpose, "owner@example.com")
    with pytest.raises(TokenError, match="scope"):
        signer.verify(token, 7, "unsubscribe", "owner@example.com")
    with pytest.raises(TokenError, match="forged"):  # the site changed hands
        signer.verify(token, 7, "report", "new-owner@example.com")
    with pytest.raises(TokenError, match="forged"):  # another key
        Signer(b"x" * 40).verify(token, 7, "report", "owner@example.com")
    old = Signer(KEY, days=90).make(7, "report", "owner@example.com", now=time.time() - 91 * 86400)
    with pytest.raises(TokenError, match="expired"):
        signer.verify(old, 7, "report", "owner@example.com")
    for junk in ("", "abc", "a.b.c", "!!!.???", "x" * 500):
        with pytest.raises(TokenError):
            signer.verify(junk, 7, "report", "owner@example.com")


def test_secret_key_file_is_made_once_and_private(tmp_path):
    settings = Settings({"FLAWLESS_STATE_DIR": str(tmp_path)})
    key = secret_key(settings)
    path = tmp_path / "secret_key"
    assert len(key) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key(settings) == key  # every process on the machine signs with the same key
    assert secret_key(Settings({"FLAWLESS_SECRET_KEY": "z" * 32})) == b"z" * 32


def test_secret_key_setting_is_checked_and_never_shown():
    with pytest.raises(SettingError) as error:
        validate(Settings({"FLAWLESS_SECRET_KEY": "hunter2"}))
    assert "FLAWLESS_SECRET_KEY" in str(error.value) and "hunter2" not in str(error.value)
    for bad in ("ftp://flawless.example", "https://flawless.example/?a=1", "not a url"):
        with pytest.raises(SettingError, match="FLAWLESS_PUBLIC_URL"):
            validate(Settings({"FLAWLESS_PUBLIC_URL": bad}))
    validate(Settings({"FLAWLESS_PUBLIC_URL": "https://flawless.example/owners/",
                       "FLAWLESS_SECRET_KEY": "s" * 32, "FLAWLESS_TOKEN_DAYS": "30"}))


def test_text_fragments():
    assert text_fragment("https://e.com/a", "recieve") == "https://e.com/a#:~:text=recieve"
    # "-", "," and "&" separate a directive's parts: escaped inside the text.
    assert (text_fragment("https://e.com/a#top", "e-mail, fast & free")
            == "https://e.com/a#:~:text=e%2Dmail%2C%20fast%20%26%20free")
    long = "one two three four five six seven eight nine ten"
    assert text_fragment("https://e.com/", long) == (
        "https://e.com/#:~:text=one%20two%20three%20four,seven%20eight%20nine%20ten")
    assert text_fragment("mailto:x@e.com", "x") == "mailto:x@e.com"
    assert text_fragment("https://e.com/", "  ") == "https://e.com/"


def test_ignore_lists():
    ignored = Dismissals(words=frozenset({"zyntrix"}), links=frozenset({"https://e.com/old"}),
                         prefixes=("https://e.com/archive/",),
                         grammar=frozenset({("A_AN", "a apple")}))
    assert ignored.link_ignored("https://e.com/old") and ignored.link_ignored("https://e.com/old#x")
    assert ignored.link_ignored("https://e.com/archive/2019/post.html")
    assert not ignored.link_ignored("https://e.com/older")
    assert not ignored.link_ignored("https://e.com/archive")
    assert ignored.matches("spelling", {"word": "Zyntrix"})
    assert ignored.matches("grammar", {"rule": "A_AN", "text": "A apple"})
    assert not ignored.matches("grammar", {"rule": "OTHER", "text": "a apple"})
    assert check_prefix("https://e.com/archive/", "https://e.com/archive/a.html")
    for prefix in ("https://", "https://e.co", "https://other.com/", "/archive/"):
        with pytest.raises(DismissError):
            check_prefix(prefix, "https://e.com/archive/a.html")
