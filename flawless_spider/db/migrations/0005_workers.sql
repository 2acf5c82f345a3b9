-- The workers of a crawl: with REDIS_URL, several processes (on one machine or several) join
-- one crawl record. Each says where it runs and beats its own heartbeat; a crawl is dead only
-- when none of its workers is alive (the reaper must not close a crawl another worker runs).
CREATE TABLE crawl_workers (
    crawl_id      integer NOT NULL REFERENCES crawls (id) ON DELETE CASCADE,
    host          text NOT NULL,
    pid           integer NOT NULL,
    joined_at     timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    left_at       timestamptz,
    PRIMARY KEY (crawl_id, host, pid)
);
