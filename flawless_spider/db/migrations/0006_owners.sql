-- The owners' side: "not a mistake" for links and grammar, unsubscribe, pause, "check again now".

-- What an owner (or operator) said is not a mistake on their site. Spelling goes to site_words;
-- links are ignored by exact URL ('link') or by prefix ('link_prefix'); grammar by rule and the
-- flagged text ('grammar', compared case-insensitively).
CREATE TABLE site_ignores (
    site_id   integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    kind      text NOT NULL CHECK (kind IN ('link', 'link_prefix', 'grammar')),
    rule      text NOT NULL DEFAULT '',
    value     text NOT NULL,
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, kind, rule, value)
);

-- unsubscribed_at: no digest or notice is sent (RFC 8058 one-click or the owner's page);
-- paused_until: none is sent before then; check_requested_at: "check again now", due at the
-- next cron run when later than the site's last full crawl.
ALTER TABLE sites
    ADD COLUMN unsubscribed_at     timestamptz,
    ADD COLUMN paused_until        timestamptz,
    ADD COLUMN check_requested_at  timestamptz;
