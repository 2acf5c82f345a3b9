-- Sites, crawls, pages, findings, per-site words, the external link cache and the mail outbox.

CREATE TABLE sites (
    id              serial PRIMARY KEY,
    url             text NOT NULL,
    domain          text NOT NULL UNIQUE,
    owner_email     text,
    schedule        text NOT NULL DEFAULT 'daily' CHECK (schedule IN ('hourly', 'daily', 'weekly')),
    language        text NOT NULL DEFAULT 'en_US',
    settings        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_digest_at  timestamptz
);

CREATE TABLE site_words (
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    word        text NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, word)
);

CREATE TABLE crawls (
    id           serial PRIMARY KEY,
    site_id      integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    status       text NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'complete', 'incomplete', 'failed')),
    reason       text,
    stats        jsonb NOT NULL DEFAULT '{}'::jsonb,
    pages        integer NOT NULL DEFAULT 0
);
CREATE INDEX crawls_site_idx ON crawls (site_id, id DESC);

CREATE TABLE pages (
    crawl_id      integer NOT NULL REFERENCES crawls (id) ON DELETE CASCADE,
    url           text NOT NULL,
    final_url     text NOT NULL,
    status        integer,
    error         text,
    content_type  text NOT NULL DEFAULT '',
    content_hash  text NOT NULL DEFAULT '',
    title         text NOT NULL DEFAULT '',
    depth         integer NOT NULL DEFAULT 0,
    size          integer NOT NULL DEFAULT 0,
    anchors       text[] NOT NULL DEFAULT '{}',
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (crawl_id, url)
);

CREATE TABLE findings (
    id               bigserial PRIMARY KEY,
    site_id          integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    fingerprint      text NOT NULL,
    type             text NOT NULL,
    severity         text NOT NULL,
    page_url         text NOT NULL,
    data             jsonb NOT NULL,
    first_seen       timestamptz NOT NULL DEFAULT now(),
    last_seen        timestamptz NOT NULL DEFAULT now(),
    first_crawl_id   integer NOT NULL REFERENCES crawls (id) ON DELETE CASCADE,
    last_crawl_id    integer NOT NULL REFERENCES crawls (id) ON DELETE CASCADE,
    fixed_at         timestamptz,
    fixed_crawl_id   integer REFERENCES crawls (id) ON DELETE SET NULL,
    UNIQUE (site_id, fingerprint)
);
CREATE INDEX findings_fixed_idx ON findings (fixed_crawl_id);

-- Which findings a crawl saw: the report of any crawl, and the lifecycle, come from here.
CREATE TABLE crawl_findings (
    crawl_id    integer NOT NULL REFERENCES crawls (id) ON DELETE CASCADE,
    finding_id  bigint NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    PRIMARY KEY (crawl_id, finding_id)
);
CREATE INDEX crawl_findings_finding_idx ON crawl_findings (finding_id);

-- External link results, shared across crawls and sites, reused until they expire.
CREATE TABLE link_cache (
    url         text PRIMARY KEY,
    status      integer,
    error       text,
    final_url   text,
    result      jsonb NOT NULL DEFAULT '{}'::jsonb,
    checked_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    site_id          integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    crawl_id         integer REFERENCES crawls (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_by       text,
    claimed_at       timestamptz,
    sent_at          timestamptz,
    last_error       text,
    to_addr          text NOT NULL,
    subject          text NOT NULL,
    message          bytea NOT NULL,
    html             text NOT NULL DEFAULT '',
    UNIQUE (site_id, crawl_id)
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);
