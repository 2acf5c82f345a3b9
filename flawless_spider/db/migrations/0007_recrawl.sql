-- Re-crawls: what a later crawl may reuse of a page that did not change.
--
-- One row per page of a site: the validators it answered with (ETag, Last-Modified, for
-- conditional requests), its content hash, the "basis" it was checked on (code version and
-- the site's settings, words and dismissals: a different basis is never reused) and the state
-- the stages left (its links, the language stage's findings and end-of-crawl share), pickled.
-- Written only for pages fetched 2xx HTML and checked by every stage.
CREATE TABLE page_states (
    site_id       integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    url           text NOT NULL,
    crawl_id      integer NOT NULL,
    basis         text NOT NULL,
    etag          text,
    last_modified text,
    content_hash  text NOT NULL,
    state         bytea NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, url)
);

-- A page this crawl took as unchanged (304 Not Modified, or the same content): its stored
-- links were followed and checked again, its language findings were the stored ones.
ALTER TABLE pages ADD COLUMN reused boolean NOT NULL DEFAULT false;
