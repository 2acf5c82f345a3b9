-- Evidence for "fixed", stable identity, honest partial crawls and outage notices.

-- What a crawl was: a scheduled/explicit full crawl of the site, or a partial one (-a url=)
-- that never sends a digest and never moves the schedule; which finding kinds it checked
-- completely (a stage that was off or failed proves nothing fixed); what its limits left out.
ALTER TABLE crawls
    ADD COLUMN kind     text NOT NULL DEFAULT 'full' CHECK (kind IN ('full', 'partial')),
    ADD COLUMN checked  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN left_out jsonb NOT NULL DEFAULT '{}'::jsonb;

-- A page row is evidence only when the page answered 2xx HTML and every stage checked it.
-- canonical_url: the page this URL serves the same document as (/index.html -> /).
ALTER TABLE pages
    ADD COLUMN checked        boolean NOT NULL DEFAULT false,
    ADD COLUMN canonical_url  text;

-- Where a finding lives, for its identity: its page URL, or "block:<hash>" for text repeated
-- on many pages (navigation, footer), whose pages are listed in finding_pages.
ALTER TABLE findings ADD COLUMN place text;
UPDATE findings SET place = page_url;
ALTER TABLE findings ALTER COLUMN place SET NOT NULL;

CREATE TABLE finding_pages (
    finding_id  bigint NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    url         text NOT NULL,
    PRIMARY KEY (finding_id, url)
);

-- Consecutive failed full crawls, and whether the owner was told the site could not be checked.
ALTER TABLE sites
    ADD COLUMN failed_crawls    integer NOT NULL DEFAULT 0,
    ADD COLUMN outage_notified  boolean NOT NULL DEFAULT false;

-- The outbox holds more than digests: "we could not check your site" and "back to normal".
ALTER TABLE outbox
    ADD COLUMN kind text NOT NULL DEFAULT 'digest' CHECK (kind IN ('digest', 'outage', 'recovered'));
ALTER TABLE outbox DROP CONSTRAINT outbox_site_id_crawl_id_key;
ALTER TABLE outbox ADD CONSTRAINT outbox_site_crawl_kind_key UNIQUE (site_id, crawl_id, kind);
