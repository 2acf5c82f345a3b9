"""The ``link_cache`` table: external results reused across crawls until they expire.

Only answers that need no action are reused (the target works, maybe after redirects): a
broken or unverified link is always checked again, so a report never rests on a stale failure.
Failures are written too (marked ``failed``), for when they were checked: a host's budget of
checks goes to the links checked longest ago, so every link gets its turn.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg2.extras

from flawless_spider.db import Database
from pipelines.links.checker import Result
from pipelines.links.classify import judge


class LinkCache:
    """Batched reads and writes of external link results, on the database thread."""

    def __init__(self, db: Database, hours: float):
        self.db = db
        self.seconds = max(0.0, hours) * 3600
        self._pending: dict[str, tuple[Result, bool]] = {}

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    async def get_many(self, keys: list[str]) -> tuple[dict[str, Result], dict[str, float]]:
        """Fresh cached results for ``keys`` (canonical target URLs), and when each of the
        others was last checked (epoch seconds) if it ever was."""
        if not self.enabled or not keys:
            return {}, {}
        fresh: dict[str, Result] = {}
        checked: dict[str, float] = {}
        for row in await self.db.run(self._select, keys):
            if row["fresh"]:
                fresh[row["url"]] = _result(row)
            else:
                checked[row["url"]] = row["at"]
        return fresh, checked

    def _select(self, keys: list[str]) -> list[dict[str, Any]]:
        return self.db.query(
            "SELECT url, status, error, final_url, result,"
            " extract(epoch FROM checked_at)::float8 AS at,"
            " (checked_at > now() - make_interval(secs => %s)"
            "  AND NOT coalesce((result->>'failed')::boolean, false)) AS fresh"
            " FROM link_cache WHERE url = ANY(%s)",
            (self.seconds, keys),
        )

    def put(self, key: str, result: Result) -> None:
        """Remember ``result``: to reuse if it needs no action, else when it was checked."""
        if not self.enabled or result.cached or result.skipped:
            return
        verdict = judge(result.status, result.error, result.reason, result.first_hop)
        works = not result.error and (verdict is None or verdict.error == "permanent_redirect")
        self._pending[key] = (result, not works)

    def __len__(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if pending:
            await self.db.run(self._upsert, pending)

    def _upsert(self, pending: dict[str, tuple[Result, bool]]) -> None:
        rows = [(key, r.status, r.error, r.final_url or None,
                 json.dumps({**r.to_cache(), "failed": True} if failed else r.to_cache()))
                for key, (r, failed) in pending.items()]
        with self.db.transaction() as cur:
            psycopg2.extras.execute_values(
                cur,
                "INSERT INTO link_cache (url, status, error, final_url, result) VALUES %s"
                " ON CONFLICT (url) DO UPDATE SET status = EXCLUDED.status,"
                " error = EXCLUDED.error, final_url = EXCLUDED.final_url,"
                " result = EXCLUDED.result, checked_at = now()",
                rows,
            )


def _result(row: dict[str, Any]) -> Result:
    data = row["result"] or {}
    return Result(url=row["url"], status=row["status"], error=row["error"],
                  final_url=row["final_url"] or "", chain=list(data.get("chain") or []),
                  reason=data.get("reason", ""), content_type=data.get("content_type", ""),
                  cached=True)
