"""The state one crawl's workers share in Redis (``REDIS_URL``), keyed per (site, crawl).

Every key is ``flawless:<site domain>:<crawl id>:<name>`` and expires ``FLAWLESS_REDIS_EXPIRY``
seconds after a worker last touched the crawl (the last worker deletes them when it closes it):

=================  ====================================================================
``requests``       the queue (a sorted set of serialised requests, scrapy-redis's format)
``dupefilter``     request fingerprints scheduled (scrapy-redis's duplicate filter)
``seen``           canonical URLs taken for fetching: exact (a set, not a Bloom filter),
                   and its size is the page budget used
``left``/``left_out``  URLs a limit kept out (once each) and their counts per limit
``disallowed``     URLs robots.txt forbids
``workers``        worker ids; ``alive:<id>`` expires when its worker stops renewing it
``lease:<id>``     requests a worker took and has not finished (its page not stored yet):
                   back to the queue when the worker's ``alive`` key expires
``links``/``claims``  link check results by target, and which worker checks a target;
                   ``hints`` the redirects the crawl met; ``hostchecks`` link checks per
                   external host (its budget, ``FLAWLESS_LINK_HOST_BUDGET``)
``held:<stage>``   what each stage keeps for the end of the crawl, per page
``pages``          content hashes of the crawl's pages, ``parked`` pages that may be another
                   address of a page (folded at the end), ``folded`` the ones that were
``root``/``stop``  why the start page failed; a request to all workers to stop
``final``          the worker that does the end-of-crawl work; ``stats:<id>`` each worker's stats
=================  ====================================================================
"""

from __future__ import annotations

import os
import pickle
import secrets
import socket
from collections.abc import Iterable
from typing import Any

import redis

LIMITS = ("budget", "depth", "trap")
NAMES = ("requests", "dupefilter", "seen", "left", "left_out", "disallowed", "workers", "links",
         "claims", "hints", "held:links", "held:language", "pages", "parked", "folded", "root", "stop",
         "final", "stats", "hostchecks")

# Take a page request's `key` and queue it, in one step (a worker killed in between would
# otherwise leave a URL taken that no one fetches). A fingerprint already scheduled (a
# redirect some worker follows) counts as taken.
ADMIT_PUSH = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('SISMEMBER', KEYS[4], ARGV[3]) == 1 then
  redis.call('SADD', KEYS[1], ARGV[1])
  return 0
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
    redis.call('HINCRBY', KEYS[3], 'budget', 1)
    return -1
  end
  return -2
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[4])
return 1
"""
# Queue a request unless its fingerprint was scheduled, in one step.
PUSH = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
"""
LEAVE = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  return 1
end
return 0
"""
# Pop the first request and lease it to this worker, in one step.
POP = """
local first = redis.call('ZRANGE', KEYS[1], 0, 0)
if #first == 0 then return false end
redis.call('ZREM', KEYS[1], first[1])
redis.call('HSET', KEYS[2], first[1], '1')
return first[1]
"""
# Return the leases of workers whose `alive` key expired to the queue; forget those workers
# (never the caller: it is alive, however late its last renewal).
RECLAIM = """
local back = 0
for _, worker in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if worker ~= ARGV[2] and redis.call('EXISTS', ARGV[1] .. 'alive:' .. worker) == 0 then
    local lease = ARGV[1] .. 'lease:' .. worker
    for _, data in ipairs(redis.call('HKEYS', lease)) do
      redis.call('ZADD', KEYS[2], 0, data)
      back = back + 1
    end
    redis.call('DEL', lease)
    redis.call('SREM', KEYS[1], worker)
  end
end
return back
"""
# Nothing queued and no request taken by any worker: every page is in.
DRAINED = """
if redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
for _, worker in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('HLEN', ARGV[1] .. 'lease:' .. worker) > 0 then return 0 end
end
return 1
"""
# This worker gives its leases back (it stops early) and leaves; returns the workers left.
LEAVE_CRAWL = """
local lease = ARGV[1] .. 'lease:' .. ARGV[2]
for _, data in ipairs(redis.call('HKEYS', lease)) do redis.call('ZADD', KEYS[2], 0, data) end
redis.call('DEL', lease, ARGV[1] .. 'alive:' .. ARGV[2])
redis.call('SREM', KEYS[1], ARGV[2])
return redis.call('SCARD', KEYS[1])
"""


class SharedCrawl:
    """One crawl's shared state in Redis, as seen by one worker (see the module docstring).

    Redis errors (``redis.RedisError``) propagate: the lifecycle turns them into an incomplete
    crawl with the reason.
    """

    def __init__(self, server: redis.Redis, domain: str, crawl_id: int, *, lease: float,
                 expiry: float):
        self.server = server
        self.prefix = f"flawless:{domain}:{crawl_id}:"
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease_ms = max(1, int(lease * 1000))
        self.expiry = max(60, int(expiry))
        self._admit_push = server.register_script(ADMIT_PUSH)
        self._push = server.register_script(PUSH)
        self._leave = server.register_script(LEAVE)
        self._pop = server.register_script(POP)
        self._reclaim = server.register_script(RECLAIM)
        self._drained = server.register_script(DRAINED)
        self._leave_crawl = server.register_script(LEAVE_CRAWL)

    @classmethod
    def connect(cls, url: str, domain: str, crawl_id: int, **kwargs: Any) -> SharedCrawl:
        server = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10,
                                      health_check_interval=30)
        return cls(server, domain, crawl_id, **kwargs)

    def key(self, name: str) -> str:
        return self.prefix + name

    # -- workers ----------------------------------------------------------------------------

    def join(self) -> None:
        with self.server.pipeline() as pipe:
            pipe.sadd(self.key("workers"), self.worker)
            pipe.set(self.key(f"alive:{self.worker}"), "1", px=self.lease_ms)
            pipe.execute()
        self.touch()

    def renew(self) -> None:
        """This worker is alive: its leases stay its own for another lease period."""
        with self.server.pipeline() as pipe:
            pipe.set(self.key(f"alive:{self.worker}"), "1", px=self.lease_ms)
            pipe.sadd(self.key("workers"), self.worker)  # taken for dead after a stall: back
            pipe.execute()

    def touch(self) -> None:
        """Push the expiry of every key of the crawl forward."""
        with self.server.pipeline(transaction=False) as pipe:
            for name in (*NAMES, f"lease:{self.worker}"):
                pipe.expire(self.key(name), self.expiry)
            pipe.execute()

    def reclaim(self) -> int:
        """Requests taken by workers that died go back to the queue; returns how many."""
        return int(self._reclaim(keys=[self.key("workers"), self.key("requests")],
                                 args=[self.prefix, self.worker]))

    def drained(self) -> bool:
        return bool(self._drained(keys=[self.key("workers"), self.key("requests")],
                                  args=[self.prefix]))

    def leave(self) -> int:
        """Give back this worker's leases and leave; returns how many workers remain."""
        return int(self._leave_crawl(keys=[self.key("workers"), self.key("requests")],
                                     args=[self.prefix, self.worker]))

    def workers(self) -> set[str]:
        return {w.decode() for w in self.server.smembers(self.key("workers"))}

    def claim_final(self) -> bool:
        """Become the worker that does the end-of-crawl work (only one ever does)."""
        return bool(self.server.set(self.key("final"), self.worker, nx=True))

    def push_stats(self, stats: dict[str, Any]) -> None:
        self.server.hset(self.key("stats"), self.worker, pickle.dumps(stats))

    def all_stats(self) -> dict[str, dict[str, Any]]:
        return {k.decode(): pickle.loads(v)
                for k, v in self.server.hgetall(self.key("stats")).items()}

    def request_stop(self, reason: str) -> None:
        self.server.set(self.key("stop"), reason)

    def stop_requested(self) -> str | None:
        value = self.server.get(self.key("stop"))
        return value.decode() if value else None

    def delete(self) -> None:
        """The crawl is closed: its keys go."""
        workers = self.workers() | {self.worker}
        self.server.delete(*(self.key(n) for n in NAMES),
                           *(self.key(f"{kind}:{w}") for w in workers for kind in ("lease", "alive")))

    # -- the frontier -----------------------------------------------------------------------

    def was_seen(self, key: str) -> bool:
        return bool(self.server.sismember(self.key("seen"), key))

    def add_seen(self, key: str) -> None:
        self.server.sadd(self.key("seen"), key)

    def leave_out(self, limit: str, key: str) -> bool:
        return bool(self._leave(keys=[self.key("left"), self.key("left_out")],
                                args=[key, limit]))

    def left_out(self) -> dict[str, int]:
        counts = self.server.hgetall(self.key("left_out"))
        return {limit: int(counts.get(limit.encode(), 0)) for limit in LIMITS}

    def disallow(self, url: str) -> None:
        self.server.sadd(self.key("disallowed"), url)

    def disallowed(self) -> set[str]:
        return {u.decode() for u in self.server.smembers(self.key("disallowed"))}

    def set_root_error(self, error: str, detail: str) -> None:
        self.server.hsetnx(self.key("root"), "error", error)
        self.server.hsetnx(self.key("root"), "detail", detail)

    def root_error(self) -> tuple[str | None, str]:
        root = self.server.hgetall(self.key("root"))
        error = root.get(b"error")
        return (error.decode() if error else None), root.get(b"detail", b"").decode()

    # -- the queue ----------------------------------------------------------------------------

    def push(self, data: bytes, priority: int = 0) -> None:
        self.server.zadd(self.key("requests"), {data: -priority})

    def schedule(self, fingerprint: str, data: bytes, priority: int = 0) -> bool:
        """Queue a request unless one with its fingerprint was scheduled already."""
        return bool(self._push(keys=[self.key("dupefilter"), self.key("requests")],
                               args=[fingerprint, data, -priority]))

    def admit_and_schedule(self, key: str, max_pages: int, fingerprint: str, data: bytes,
                           priority: int = 0) -> str:
        """Take the page ``key`` and queue its request: ``new``, ``seen``, or ``budget``
        (``budget again`` when the URL was counted as left out already)."""
        verdict = self._admit_push(
            keys=[self.key("seen"), self.key("left"), self.key("left_out"),
                  self.key("dupefilter"), self.key("requests")],
            args=[key, max_pages, fingerprint, data, -priority])
        return {1: "new", 0: "seen", -1: "budget", -2: "budget again"}[int(verdict)]

    def pop(self) -> bytes | None:
        """The next request, leased to this worker until :meth:`release`."""
        return self._pop(keys=[self.key("requests"), self.key(f"lease:{self.worker}")])

    def queued(self) -> int:
        return int(self.server.zcard(self.key("requests")))

    def release(self, leases: Iterable[bytes]) -> None:
        leases = list(leases)
        if leases:
            self.server.hdel(self.key(f"lease:{self.worker}"), *leases)

    # -- what the stages keep for the end of the crawl ----------------------------------------

    def pages_done(self, held: dict[str, dict[str, Any]], hashes: dict[str, str],
                   parked: dict[str, bytes], leases: Iterable[bytes]) -> None:
        """Pages are stored (or parked): keep what the stages hold for them, record their
        content hashes, and release their leases, in one transaction."""
        leases = list(leases)
        with self.server.pipeline() as pipe:
            for stage, per_page in held.items():
                if per_page:
                    pipe.hset(self.key(f"held:{stage}"),
                              mapping={url: pickle.dumps(v) for url, v in per_page.items()})
            if hashes:
                pipe.hset(self.key("pages"), mapping=hashes)
            if parked:
                pipe.hset(self.key("parked"), mapping=parked)
            if leases:
                pipe.hdel(self.key(f"lease:{self.worker}"), *leases)
            pipe.execute()

    def held(self, stage: str) -> list[Any]:
        """What every worker kept for ``stage``, page by page (a page fetched twice counts once)."""
        return [pickle.loads(v) for v in self.server.hvals(self.key(f"held:{stage}"))]

    def page_hashes(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.server.hgetall(self.key("pages")).items()}

    def parked(self) -> list[bytes]:
        return list(self.server.hvals(self.key("parked")))

    # -- link results -------------------------------------------------------------------------

    def claim_link(self, key: str) -> bool:
        """True when this worker is the one to check the target ``key``."""
        return bool(self.server.hsetnx(self.key("claims"), key, self.worker))

    def take_host_check(self, host: str) -> int:
        """Count one more link check on ``host``; returns the crawl's count so far."""
        return int(self.server.hincrby(self.key("hostchecks"), host, 1))

    def put_links(self, results: dict[str, Any]) -> None:
        if results:
            self.server.hset(self.key("links"),
                             mapping={k: pickle.dumps(v) for k, v in results.items()})

    def put_hint(self, key: str, status: int, location: str) -> None:
        """A redirect the crawl met (the link checks need not ask again)."""
        self.server.hset(self.key("hints"), key, pickle.dumps((status, location)))

    def hints(self) -> dict[str, tuple[int, str]]:
        return {k.decode(): pickle.loads(v)
                for k, v in self.server.hgetall(self.key("hints")).items()}

    def get_links(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        values = self.server.hmget(self.key("links"), keys)
        return {k: pickle.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}

