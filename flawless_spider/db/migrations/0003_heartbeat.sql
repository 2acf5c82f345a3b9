-- Who runs a crawl and when it last showed signs of life: a `running` record whose process is
-- gone (dead pid on the same host, or no heartbeat for FLAWLESS_HEARTBEAT_TIMEOUT) is closed
-- as incomplete ("worker died") by the next command that looks.
ALTER TABLE crawls
    ADD COLUMN heartbeat_at  timestamptz,
    ADD COLUMN host          text,
    ADD COLUMN pid           integer;
CREATE INDEX crawls_running_idx ON crawls (id) WHERE status = 'running';
