"""Client for a LanguageTool server's ``/v2/check``, used instead of the built-in grammar rules.

Blocks go in the ``data`` field (JSON annotations), separated by paragraph markup so LanguageTool
does not read one block into the next; text left out of a block (code) is markup interpreted as
a neutral word. Requests stay under ``max_chars`` (the public server takes 20 KB): blocks are
grouped, and a longer block is cut at sentence ends. Spelling (``MORFOLOGIK_RULE_*``,
``HUNSPELL_*``: we do spelling ourselves) and style categories are disabled in the request and
dropped from the answer in case the server ignores the parameters.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from pipelines.language.extract import PLACEHOLDER

Transport = Callable[[str, bytes, dict[str, str]], Awaitable[tuple[int, bytes]]]
"""``await transport(url, body, headers)`` → ``(status, body)``: how requests reach the server."""

DISABLED_CATEGORIES = (
    "TYPOS",
    "STYLE",
    "REDUNDANCY",
    "PLAIN_ENGLISH",
    "TYPOGRAPHY",
    "WIKIPEDIA",
    "CREATIVE_WRITING",
    "TEXT_ANALYSIS",
    "MISC",
)
DISABLED_RULE_PREFIXES = ("MORFOLOGIK_RULE_", "HUNSPELL_")
DISABLED_RULES = ("MORFOLOGIK_RULE_EN_US", "MORFOLOGIK_RULE_EN_GB", "HUNSPELL_RULE")
MAX_CHARS = 20_000
SEPARATOR = {"markup": "\n\n", "interpretAs": "\n\n"}
_SENTENCE_END = re.compile(r"[.!?]\s+")


class LanguageToolError(Exception):
    """The server did not answer with matches."""


@dataclass(slots=True)
class LTMatch:
    block: int
    """Index of the block the match is in."""
    start: int
    end: int
    rule: str
    category: str
    message: str
    text: str
    suggestions: list[str]


def _pieces(text: str, limit: int) -> list[tuple[int, str]]:
    """``text`` cut at sentence ends into ``(offset, piece)`` no longer than ``limit``."""
    if len(text) <= limit:
        return [(0, text)]
    out: list[tuple[int, str]] = []
    start = 0
    while len(text) - start > limit:
        cut = start
        for m in _SENTENCE_END.finditer(text, start, start + limit):
            cut = m.end()
        if cut == start:  # one huge sentence: cut at the last space
            cut = text.rfind(" ", start, start + limit) + 1 or start + limit
        out.append((start, text[start:cut]))
        start = cut
    out.append((start, text[start:]))
    return out


def build_batches(texts: list[str], limit: int = MAX_CHARS) -> list[list[tuple[int, int, str]]]:
    """Group ``(block index, offset in block, text)`` pieces into requests under ``limit``."""
    batches: list[list[tuple[int, int, str]]] = []
    current: list[tuple[int, int, str]] = []
    size = 0
    for index, text in enumerate(texts):
        for offset, piece in _pieces(text, limit - len(SEPARATOR["markup"])):
            cost = len(piece) + len(SEPARATOR["markup"])
            if current and size + cost > limit:
                batches.append(current)
                current, size = [], 0
            current.append((index, offset, piece))
            size += cost
    if current:
        batches.append(current)
    return batches


def annotation(batch: list[tuple[int, int, str]]) -> tuple[str, list[int]]:
    """The ``data`` JSON of a batch, and where each piece starts in the server's offsets."""
    items: list[dict[str, str]] = []
    starts: list[int] = []
    pos = 0
    for i, (_, _, piece) in enumerate(batch):
        if i:
            items.append(SEPARATOR)
            pos += len(SEPARATOR["markup"])
        starts.append(pos)
        for j, part in enumerate(piece.split(PLACEHOLDER)):
            if j:
                items.append({"markup": PLACEHOLDER, "interpretAs": "X"})
            if part:
                items.append({"text": part})
        pos += len(piece)
    return json.dumps({"annotation": items}, ensure_ascii=False), starts


def map_matches(payload: dict, batch: list[tuple[int, int, str]], starts: list[int]) -> list[LTMatch]:
    """LanguageTool's ``matches`` as block-relative :class:`LTMatch`; spelling/style dropped."""
    out = []
    for match in payload.get("matches") or ():
        rule = match.get("rule") or {}
        rule_id = str(rule.get("id") or "")
        category = str((rule.get("category") or {}).get("id") or "")
        if rule_id.startswith(DISABLED_RULE_PREFIXES) or category in DISABLED_CATEGORIES:
            continue
        offset, length = int(match.get("offset", -1)), int(match.get("length", 0))
        for (block, piece_offset, piece), start in zip(batch, starts, strict=True):
            if start <= offset and offset + length <= start + len(piece):
                local = offset - start
                text = piece[local : local + length]
                suggestions = [str(r["value"]) for r in match.get("replacements") or () if "value" in r][:5]
                out.append(
                    LTMatch(
                        block,
                        piece_offset + local,
                        piece_offset + local + length,
                        rule_id,
                        category,
                        str(match.get("message") or ""),
                        text,
                        suggestions,
                    )
                )
                break
    return out


class LanguageToolClient:
    def __init__(
        self,
        url: str,
        transport: Transport | None = None,
        max_chars: int = MAX_CHARS,
        disabled_categories: tuple[str, ...] = DISABLED_CATEGORIES,
        disabled_rules: tuple[str, ...] = DISABLED_RULES,
    ):
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/v2/check") else base + "/v2/check"
        self.transport = transport or thread_transport
        self.max_chars = max_chars
        self.disabled_categories = disabled_categories
        self.disabled_rules = disabled_rules

    def body(self, data: str, language: str) -> bytes:
        return urlencode(
            {
                "language": language,
                "data": data,
                "disabledCategories": ",".join(self.disabled_categories),
                "disabledRules": ",".join(self.disabled_rules),
            }
        ).encode("utf-8")

    async def check(self, texts: list[str], language: str) -> list[LTMatch]:
        """Matches in ``texts`` (one language, LanguageTool code such as ``en-US``)."""
        found: list[LTMatch] = []
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Accept": "application/json",
        }
        for batch in build_batches(texts, self.max_chars):
            data, starts = annotation(batch)
            status, raw = await self.transport(self.endpoint, self.body(data, language), headers)
            if status != 200:
                raise LanguageToolError(f"LanguageTool answered HTTP {status}: {raw[:200]!r}")
            try:
                payload = json.loads(raw)
            except ValueError as exc:
                raise LanguageToolError(f"LanguageTool answered non-JSON: {raw[:200]!r}") from exc
            found.extend(map_matches(payload, batch, starts))
        return found


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()
    except OSError as exc:
        raise LanguageToolError(f"LanguageTool unreachable: {exc}") from exc


async def thread_transport(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """Blocking urllib in a worker thread (for use outside a running Scrapy engine)."""
    return await asyncio.to_thread(_post, url, body, headers, 60.0)


def lt_language(tag: str) -> str:
    """``en_US`` → ``en-US`` (LanguageTool's codes)."""
    return tag.replace("_", "-")
