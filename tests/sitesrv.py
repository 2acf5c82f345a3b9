"""A small HTTP server for tests: serves a folder, plus the odd behaviours a crawler meets.

Run as ``python tests/sitesrv.py ROOT --host 127.0.0.1`` (or ``--host ::1``); it prints its port
on the first line of stdout. ``GET /__log`` returns every request seen so far (method, path,
user agent, monotonic time) as JSON and ``POST /__reset`` clears it; neither is logged.

Special paths (besides the files under ROOT):

- ``/__status/CODE``: answers CODE (``/__status/301?to=/x`` redirects to ``/x``).
- ``/__redirect/N``: a chain of N redirects ending at ``/``; ``/__loop/a`` and ``/__loop/b`` loop.
- ``/__slow/SECONDS``: answers after a delay. ``/__huge``: an endless body.
- ``/__nohead/...``: 405 for HEAD, 200 for GET. ``/__botwall``: 403 with a bot-protection page.
- ``/__ratelimit/N``: 429 with ``Retry-After: 1`` for the first N requests, then 200.
- ``/__flaky/N``: 503 for the first N requests, then 200.
- ``/__trap/...``: every path answers a page linking one level deeper (a crawler trap).
- ``/__calendar/YYYY/MM/``: an endless calendar: each month links the previous and the next.
- ``/__session/NAME``: pages ``a``..``e`` linking each other, every link with a new ``?sid=``.
- ``/__latin1``: an HTML page in ISO-8859-1 declared as UTF-8.
- ``/__chunked/...``: a small PNG sent with ``Transfer-Encoding: chunked``, its one chunk and
  the last chunk in one write after the headers (a client that stops reading at the first chunk
  has, in the same read, the end of the response).
``--tls`` serves HTTPS with a throwaway self-signed certificate (clients must not verify it).
A file ``ROOT/_headers.json`` may map paths to extra response headers, and ``ROOT/_status.json``
paths to a status to answer instead of the file (read on every request, so a test can take a
page down between two crawls: ``{"/": 503}``). In text files,
``{{HOST}}`` is replaced by the request's Host header (for absolute URLs in sitemaps).
Each log entry also has ``conn`` (the client's port: one per TCP connection) and ``in_flight``
(requests being answered when it arrived, itself included).

Files are served with ``ETag`` (a hash of the body) and ``Last-Modified`` (the file's mtime), and
a ``GET`` whose ``If-None-Match`` names the current ETag (or, without one, whose
``If-Modified-Since`` is not older than the file) answers ``304 Not Modified``, as nginx does;
``ROOT/_headers.json`` can send other values. The log shows each request's ``status``.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import hashlib
import json
import mimetypes
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class Handler(BaseHTTPRequestHandler):
    server_version = "sitesrv/1"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as nginx on keep-alive connections: no 40 ms delayed-ACK stalls
    log: list[dict] = []
    counts: Counter = Counter()
    answering = 0
    lock = threading.Lock()
    root: Path

    def log_message(self, format: str, *args) -> None:
        pass

    _entry: dict | None = None

    def _record(self) -> None:
        entry = {"method": self.command, "path": self.path,
                 "ua": self.headers.get("User-Agent", ""), "t": time.monotonic(),
                 "conn": self.client_address[1]}
        self._entry = entry
        with self.lock:
            Handler.answering += 1
            entry["in_flight"] = Handler.answering
            self.log.append(entry)
            self.counts[urlsplit(self.path).path] += 1

    def _answered(self, status: int) -> None:
        """Note the status of the request being answered; it is no longer in flight."""
        if self._entry is not None:
            self._entry["status"] = status
            self._entry = None
            with self.lock:
                Handler.answering -= 1

    def _send(self, status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8",
              headers: dict | None = None) -> None:
        self._answered(status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_chunked(self, body: bytes, ctype: str) -> None:
        self._answered(200)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))

    def do_POST(self) -> None:
        if self.path == "/__reset":
            with self.lock:
                self.log.clear()
                self.counts.clear()
            self._send(204)
            return
        self._record()
        self._send(405)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        if path == "/__log":
            with self.lock:
                body = json.dumps(self.log).encode()
            self._send(200, body, "application/json")
            return
        self._record()
        with self.lock:
            count = self.counts[url.path]
        parts = path.strip("/").split("/")
        if path.startswith("/__status/"):
            code = int(parts[1])
            headers = {"Location": query["to"][0]} if "to" in query else {}
            self._send(code, f"<h1>{code}</h1>".encode(), headers=headers)
        elif path.startswith("/__redirect/"):
            left = int(parts[1])
            target = f"/__redirect/{left - 1}" if left > 1 else "/"
            self._send(302, b"", headers={"Location": target})
        elif path.startswith("/__loop/"):
            other = "b" if parts[1] == "a" else "a"
            self._send(301, b"", headers={"Location": f"/__loop/{other}"})
        elif path.startswith("/__slow/"):
            time.sleep(float(parts[1]))
            self._send(200, b"<p>slow</p>")
        elif path == "/__huge":
            self._answered(200)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(100_000):
                    self.wfile.write(b"<p>" + b"x" * 1021 + b"</p>")
            except OSError:
                pass
            self.close_connection = True
        elif path.startswith("/__nohead/"):
            if self.command == "HEAD":
                self._send(405)
            else:
                self._send(200, b"<p>GET only</p>")
        elif path == "/__botwall":
            self._send(403, b"<html><title>Just a moment...</title><p>Checking your browser"
                       b" - cf-browser-verification</p></html>", headers={"Server": "cloudflare",
                                                                        "cf-ray": "1234"})
        elif path.startswith("/__ratelimit/"):
            if count <= int(parts[1]):
                self._send(429, b"slow down", headers={"Retry-After": "1"})
            else:
                self._send(200, b"<p>ok</p>")
        elif path.startswith("/__flaky/"):
            if count <= int(parts[1]):
                self._send(503, b"try later")
            else:
                self._send(200, b"<p>ok</p>")
        elif path.startswith("/__trap/"):
            self._send(200, b'<html><body><p>Endless</p><a href="x/">deeper</a></body></html>')
        elif path.startswith("/__calendar/"):
            year, month = int(parts[1]), int(parts[2])
            before = (year - 1, 12) if month == 1 else (year, month - 1)
            after = (year + 1, 1) if month == 12 else (year, month + 1)
            links = "".join(f'<a href="/__calendar/{y}/{m:02d}/">{y}-{m:02d}</a>'
                            for y, m in (before, after))
            self._send(200, f"<html><body><p>Events</p>{links}</body></html>".encode())
        elif path.startswith("/__session/"):
            links = "".join(f'<a href="/__session/{name}?sid={uuid.uuid4().hex}">{name}</a>'
                            for name in "abcde")
            self._send(200, f"<html><body><p>Shop</p>{links}</body></html>".encode())
        elif path.startswith("/__chunked/"):
            self._send_chunked(b"\x89PNG\r\n\x1a\n" + b"\0" * 200, "image/png")
        elif path == "/__latin1":
            self._send(200, "<p>caf\u00e9 na\u00efve</p>".encode("latin-1"))
        else:
            self._serve_file(path)

    def _serve_file(self, path: str) -> None:
        override = self.root / "_status.json"
        if override.is_file():
            code = json.loads(override.read_text()).get(path)
            if code:
                self._send(int(code), f"<html><title>{code}</title><h1>{code}</h1></html>".encode(),
                           headers={"Retry-After": "0"} if int(code) == 503 else None)
                return
        target = (self.root / path.lstrip("/")).resolve()
        if self.root not in target.parents and target != self.root:
            self._send(404, b"<h1>Not found</h1>")
            return
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            self._send(404, b"<html><title>Not found</title><h1>Not found</h1></html>")
            return
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/xml", "application/javascript"):
            ctype += "; charset=utf-8"
        body = target.read_bytes()
        if ctype.startswith(("text/", "application/xml")):
            body = body.replace(b"{{HOST}}", self.headers.get("Host", "").encode())
        mtime = int(target.stat().st_mtime)
        headers = {"ETag": f'"{hashlib.sha256(body).hexdigest()[:16]}"',
                   "Last-Modified": email.utils.formatdate(mtime, usegmt=True)}
        extra = self.root / "_headers.json"
        if extra.is_file():
            headers.update(json.loads(extra.read_text()).get(path, {}))
        if self.command == "GET" and self._not_modified(headers, mtime):
            self._send(304, b"", ctype, {k: v for k, v in headers.items() if v})
            return
        self._send(200, body, ctype, {k: v for k, v in headers.items() if v})

    def _not_modified(self, headers: dict, mtime: int) -> bool:
        """RFC 9110: If-None-Match decides when sent; else If-Modified-Since."""
        etag, last_modified = headers.get("ETag"), headers.get("Last-Modified")
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            return bool(etag) and etag in [t.strip() for t in if_none_match.split(",")]
        since = self.headers.get("If-Modified-Since")
        if since is None or not last_modified:
            return False
        with contextlib.suppress(TypeError, ValueError):
            return email.utils.parsedate_to_datetime(since).timestamp() >= mtime
        return False


def _self_signed(host: str, folder: Path) -> tuple[str, str]:
    """Write a throwaway certificate and key for ``host`` into ``folder``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS (self-signed)")
    args = parser.parse_args()
    Handler.root = args.root.resolve()
    if ":" in args.host:  # an IPv6 address such as ::1
        ThreadingHTTPServer.address_family = socket.AF_INET6
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as folder:
            context.load_cert_chain(*_self_signed(args.host, Path(folder)))
        # The handshake happens in the handler's thread, on its first read.
        server.socket = context.wrap_socket(server.socket, server_side=True,
                                            do_handshake_on_connect=False)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
