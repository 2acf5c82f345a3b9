"""The owners' web app (Flask): every page reached from a signed link, every change a POST.

Routes (``t`` is the token from the link; see :mod:`flawless_spider.web.tokens`):

- ``GET /sites/<id>/report?t=`` the latest crawl's findings, grouped as in the digest, with
  filters (``type``, ``state``, ``q``, ``finding``); ``report.csv`` and ``report.json``;
- ``POST /sites/<id>/dismiss?t=`` "not a mistake", ``POST .../undo?t=`` takes it back,
  ``POST .../check?t=`` "check again now";
- ``GET /sites/<id>/unsubscribe?t=`` the confirmation page; ``POST`` the same URL with
  ``List-Unsubscribe=One-Click`` (RFC 8058, what mail providers send) unsubscribes;
  ``POST .../pause?t=`` stops e-mails for 30 days, ``POST .../resume?t=`` starts them again.

GET never changes anything: mail scanners follow links. Pages are autoescaped Jinja templates
(``templates/web/``) under a strict Content-Security-Policy (no scripts, no inline styles), and
every redirect is built from our own routes, never from a URL in the request.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jinja2
import psycopg2
from flask import Flask, Response, abort, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from flawless_spider import dismissals
from flawless_spider.config import validate_or_exit
from flawless_spider.db import Database, DatabaseError
from flawless_spider.findings import TYPES
from flawless_spider.report import to_csv
from flawless_spider.web import report as report_data
from flawless_spider.web.links import OwnerLinks
from flawless_spider.web.tokens import TokenError, signer_from_settings
from pipelines.digest.build import LINK_ERRORS, TYPE_HEADINGS, silenced
from pipelines.digest.render import TEMPLATES_DIR, href, plural, when

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAUSE_DAYS = 30
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",  # the token must not leak to the owner's pages
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SITE_SQL = ("SELECT id, url, domain, owner_email, unsubscribed_at, paused_until,"
            " check_requested_at, (SELECT max(started_at) FROM crawls c WHERE c.site_id = s.id"
            "   AND c.kind = 'full') AS last_started FROM sites s WHERE id = %s")


def project_settings() -> Any:
    """The project's settings (defaults < environment), as ``scrapy`` commands see them."""
    from scrapy.utils.project import get_project_settings

    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "flawless_spider.settings")
    return get_project_settings()


def create_app(settings: Any = None) -> Flask:
    """The app for ``settings``; a bad setting is one line on stderr and exit status 2."""
    settings = project_settings() if settings is None else settings
    validate_or_exit(settings)
    app = Flask(__name__, static_folder=str(STATIC_DIR), template_folder=str(TEMPLATES_DIR))
    override = settings.get("FLAWLESS_TEMPLATES_DIR") or ""
    app.jinja_loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(p) for p in (override, str(TEMPLATES_DIR)) if p])
    app.jinja_env.filters.update(href=href, when=when, url_dir=url_dir)
    app.jinja_env.globals.update(plural=plural, TYPE_HEADINGS=TYPE_HEADINGS,
                                 STATE_TITLES=report_data.SECTION_TITLES, LINK_ERRORS=LINK_ERRORS)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, MAX_FORM_MEMORY_SIZE=16 * 1024)
    app.extensions["flawless"] = Owners(settings)
    _routes(app)
    return app


class Owners:
    """What the views share: settings, the signer, one database handle per process."""

    def __init__(self, settings: Any):
        self.settings = settings
        self.signer = signer_from_settings(settings)
        self.db = Database.from_settings(settings)

    def site(self, site_id: int, purpose: str) -> dict[str, Any]:
        """The site of a request whose ``t`` token is valid for ``purpose`` on it, or 403."""
        token = request.args.get("t", "")
        rows = self.db.query(SITE_SQL, (site_id,)) if len(token) < 400 else []
        site = rows[0] if rows else None
        try:
            if site is None or not site["owner_email"]:
                raise TokenError("scope")  # an unknown site looks like any other bad link
            self.signer.verify(token, site_id, purpose, site["owner_email"])
        except TokenError as exc:
            g.token_problem = str(exc)
            abort(403)
        g.site, g.token = site, token
        return site

    def links(self, site: dict[str, Any]) -> OwnerLinks:
        return OwnerLinks("", self.signer, site["id"], site["owner_email"])


def owners() -> Owners:
    from flask import current_app

    return current_app.extensions["flawless"]


def url_dir(url: Any) -> str:
    """``https://host/a/b.html`` → ``https://host/a/``: a link's default ignore prefix."""
    text = str(url or "").partition("#")[0].partition("?")[0]
    head, sep, _ = text.rpartition("/")
    return head + sep if text.count("/") >= 3 else text


def _routes(app: Flask) -> None:
    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        problem = getattr(g, "token_problem", "")
        return render_template("web/error.html", code=exc.code, problem=problem,
                               message=getattr(g, "error_message", "")), exc.code or 500

    @app.errorhandler(DatabaseError)
    @app.errorhandler(psycopg2.OperationalError)
    @app.errorhandler(psycopg2.InterfaceError)
    def database_down(exc: Exception) -> tuple[str, int]:
        app.logger.warning("database unavailable: %s", str(exc).strip().splitlines()[0:1])
        return render_template("web/error.html", code=503, problem="database"), 503

    @app.get("/")
    def index() -> str:
        return render_template("web/error.html", code=200, problem="home")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)  # no icon, and no 404 in every browser's console

    @app.get("/healthz")
    def health() -> Response:
        owners().db.query("SELECT 1")
        return Response("ok\n", mimetype="text/plain")

    @app.get("/sites/<int:site_id>/report")
    def report(site_id: int) -> str:
        ctx = owners()
        site = ctx.site(site_id, "report")
        filters = report_data.Filters.from_args(request.args)
        view = report_data.build_view(ctx.db, site_id, filters)
        done = _done(ctx, site_id)
        return render_template(
            "web/report.html", site=site, view=view, filters=filters, done=done,
            check_pending=_check_pending(site), silenced=silenced(site["unsubscribed_at"],
                                                                 site["paused_until"]),
            unsubscribe=ctx.links(site).unsubscribe(), token=g.token, types=TYPES,
            states=report_data.STATES,
            link_to=lambda **p: url_for("report", site_id=site_id, t=g.token, **p),
        )

    @app.get("/sites/<int:site_id>/report.<any(csv, json):fmt>")
    def download(site_id: int, fmt: str) -> Response:
        ctx = owners()
        site = ctx.site(site_id, "report")
        records = report_data.export_records(ctx.db, site_id)
        if records is None:
            abort(404)
        name = "flawless-" + re.sub(r"[^a-z0-9.-]+", "_", site["domain"].lower())[:100]
        if fmt == "csv":
            body, mime = to_csv(records), "text/csv; charset=utf-8"
        else:
            body, mime = json.dumps(records, ensure_ascii=False, indent=1), "application/json"
        return Response(body, mimetype=mime, headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"'})

    @app.post("/sites/<int:site_id>/dismiss")
    def dismiss(site_id: int) -> Response:
        ctx = owners()
        ctx.site(site_id, "report")
        found = _posted_finding(ctx, site_id)
        try:
            with ctx.db.transaction() as cur:
                dismissals.dismiss(cur, site_id, found["type"], dict(found["data"]),
                                   prefix=request.form.get("prefix") or None)
        except dismissals.DismissError as exc:
            g.error_message = str(exc)
            abort(400)
        return _back(site_id, done="dismissed", item=found["id"])

    @app.post("/sites/<int:site_id>/undo")
    def undo(site_id: int) -> Response:
        ctx = owners()
        ctx.site(site_id, "report")
        found = _posted_finding(ctx, site_id)
        with ctx.db.transaction() as cur:
            dismissals.undo(cur, site_id, found["type"], dict(found["data"]))
        return _back(site_id, done="undone", item=found["id"])

    @app.post("/sites/<int:site_id>/check")
    def check(site_id: int) -> Response:
        ctx = owners()
        ctx.site(site_id, "report")
        ctx.db.query("UPDATE sites SET check_requested_at = now() WHERE id = %s", (site_id,))
        return _back(site_id, done="check")

    @app.route("/sites/<int:site_id>/unsubscribe", methods=["GET", "POST"])
    def unsubscribe(site_id: int) -> str:
        ctx = owners()
        site = ctx.site(site_id, "unsubscribe")
        done = ""
        if request.method == "POST":
            # RFC 8058: the mail provider POSTs List-Unsubscribe=One-Click; so does our button.
            if request.form.get("List-Unsubscribe") != "One-Click":
                g.error_message = "expected List-Unsubscribe=One-Click"
                abort(400)
            stop_mail(ctx.db, site_id, "unsubscribed_at = coalesce(unsubscribed_at, now())",
                      "the owner unsubscribed")
            site, done = ctx.site(site_id, "unsubscribe"), "unsubscribed"
        return _mail_page(site, done)

    @app.post("/sites/<int:site_id>/pause")
    def pause(site_id: int) -> str:
        ctx = owners()
        ctx.site(site_id, "unsubscribe")
        stop_mail(ctx.db, site_id, f"paused_until = now() + interval '{PAUSE_DAYS} days'",
                  "the owner paused e-mails")
        return _mail_page(ctx.site(site_id, "unsubscribe"), "paused")

    @app.post("/sites/<int:site_id>/resume")
    def resume(site_id: int) -> str:
        ctx = owners()
        ctx.site(site_id, "unsubscribe")
        ctx.db.query("UPDATE sites SET unsubscribed_at = NULL, paused_until = NULL WHERE id = %s",
                     (site_id,))
        return _mail_page(ctx.site(site_id, "unsubscribe"), "resumed")


def _mail_page(site: dict[str, Any], done: str) -> str:
    """The unsubscribe page: whether mail is ``on``, ``paused`` or ``unsubscribed``, and buttons."""
    mail = "unsubscribed" if site["unsubscribed_at"] else (
        "paused" if silenced(None, site["paused_until"]) else "on")
    return render_template("web/unsubscribe.html", site=site, done=done, mail=mail,
                           token=g.token, pause_days=PAUSE_DAYS)


def stop_mail(db: Database, site_id: int, assignment: str, why: str) -> None:
    """Stop the site's e-mails at once: the site marked, what is queued and unsent cancelled."""
    with db.transaction() as cur:
        cur.execute(f"UPDATE sites SET {assignment} WHERE id = %s", (site_id,))
        cur.execute("UPDATE outbox SET status = 'failed', last_error = %s"
                    " WHERE site_id = %s AND status = 'queued'", (f"cancelled: {why}", site_id))


def _posted_finding(ctx: Owners, site_id: int) -> dict[str, Any]:
    value = str(request.form.get("finding") or "")
    found = report_data.finding_of(ctx.db, site_id, int(value)) if (
        value.isdigit() and len(value) < 18) else None
    if found is None:
        abort(404)  # not this site's finding: nothing changes
    return found


def _back(site_id: int, **extra: Any) -> Response:
    """303 back to the report with the owner's filters: built from our route only."""
    filters = report_data.Filters.from_args({**request.form.to_dict(),
                                             "finding": request.form.get("focus")})
    target = url_for("report", site_id=site_id, t=g.token, **filters.params(), **extra)
    return redirect(target, code=303)


def _check_pending(site: dict[str, Any]) -> bool:
    requested, last = site["check_requested_at"], site["last_started"]
    return requested is not None and (last is None or requested > last)


def _done(ctx: Owners, site_id: int) -> dict[str, Any] | None:
    """The banner after an action (``done`` and ``item`` in the URL; the item is this site's)."""
    done = request.args.get("done", "")
    if done not in ("dismissed", "undone", "check"):
        return None
    item = str(request.args.get("item") or "")
    found = report_data.finding_of(ctx.db, site_id, int(item)) if (
        item.isdigit() and len(item) < 18) else None
    if done != "check" and found is None:
        return None
    return {"what": done, "finding": found}
