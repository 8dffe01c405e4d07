"""A read-only HTTP server that shows a store's bundles in Buckaroo's viewer.

Routes (GET and HEAD only)::

    /                                            index of stored bundles (HTML)
    /index.json                                  the same as JSON
    /datasets/<name>                             redirect to the dataset's latest bundle page
    /bundles/<data_id>/<config_id>               viewer page (?embed=DFViewer|Buckaroo)
    /bundles/<data_id>/<config_id>/stats.json    per-column stats and meta
    /bundles/<data_id>/<config_id>/window.parquet  rows ?start=&end= of the stored window
    /static/static-embed.js, /static/static-embed.css  Buckaroo's viewer files
    /favicon.ico                                 empty (204)

Every path segment is checked against the id rules before the store is
touched, so no request can name anything outside the store's bundles.  A
fixed number of requests are handled at once; further connections wait in the
listen queue, so memory stays bounded however many clients arrive.  Bundles
come through the reader's verified, byte-bounded cache.
"""

from __future__ import annotations

import datetime as _dt
import html
import io
import json
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ..bundle.ids import validate_config_id, validate_data_id
from ..bundle.model import Bundle
from ..errors import (
    BundleCorrupted,
    BundleLoadTimeout,
    BundleMismatch,
    BundleNotFound,
    StoreUnavailable,
    UnsafeDataIdError,
)
from ..reader.load import load_bundle
from ..store import BundleEntry, BundleStore
from ..units import human_age
from .artifact import EMBED_TYPES, json_safe
from .page import VIEWER_FILES, render_page, viewer_file

__all__ = ["BundleServer"]

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8
_PAGE_CACHE = 32  # rendered pages kept; bundles are immutable, so pages are too
_INDEX_SECONDS = 5.0  # the index lists every manifest: reuse one listing this long
_REQUEST_TIMEOUT = 30.0  # a stalled client frees its worker after this
_MAX_ROW_DIGITS = 18  # any row number fits; more digits are not one
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class _HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class BundleServer:
    """Serve ``store`` on ``host:port`` (port 0 picks a free one) until :meth:`shutdown`."""

    def __init__(
        self,
        store: BundleStore,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.store = store
        self._pages: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self._index: tuple[float, list[BundleEntry]] | None = None
        self._lock = threading.Lock()
        self._httpd = _BoundedHTTPServer((host, port), _handler_for(self), workers)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}"

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> BundleServer:
        threading.Thread(target=self.serve_forever, name="buckaroo-server", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ------------------------------------------------------------ content

    def entries(self) -> list[BundleEntry]:
        with self._lock:
            if self._index and time.monotonic() - self._index[0] < _INDEX_SECONDS:
                return self._index[1]
        entries = sorted(self.store.list(), key=lambda e: e.created_at, reverse=True)
        with self._lock:
            self._index = (time.monotonic(), entries)
        return entries

    def page(self, data_id: str, config_id: str, embed_type: str) -> bytes:
        key = (data_id, config_id, embed_type)
        with self._lock:
            if key in self._pages:
                self._pages.move_to_end(key)
                return self._pages[key]
        artifact = self.bundle(data_id, config_id).to_buckaroo_artifact(embed_type)
        body = render_page(artifact, title=data_id, assets_url="/static").encode()
        with self._lock:
            self._pages[key] = body
            while len(self._pages) > _PAGE_CACHE:
                self._pages.popitem(last=False)
        return body

    def bundle(self, data_id: str, config_id: str) -> Bundle:
        return load_bundle(data_id, store=self.store, config=config_id)


class _BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per request, but at most ``workers`` at once: the accept loop waits for a slot."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type, workers: int) -> None:
        self._slots = threading.BoundedSemaphore(workers)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-response is one log line, not a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.info("%s went away: %s", client_address[0], type(error).__name__)
            return
        super().handle_error(request, client_address)


def _handler_for(server: BundleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        app = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    app: BundleServer
    timeout = _REQUEST_TIMEOUT
    protocol_version = "HTTP/1.1"
    server_version = "buckaroo-assets"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def _refuse(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"read-only: GET and HEAD only\n",
                   "text/plain; charset=utf-8", extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _respond(self, *, send_body: bool) -> None:
        try:
            status, body, content_type, extra = self._route()
        except _HttpError as exc:
            status, body = exc.status, f"{exc}\n".encode()
            content_type, extra = "text/plain; charset=utf-8", {}
        except Exception as exc:  # a server bug must not leak internals or kill the worker
            log.exception("failed to serve %s", self.path)
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}\n".encode()
            content_type, extra = "text/plain; charset=utf-8", {}
        self._send(status, body, content_type, extra=extra, send_body=send_body)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        *,
        extra: dict[str, str] | None = None,
        send_body: bool = True,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**_SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    # ------------------------------------------------------------ routing

    def _route(self) -> tuple[HTTPStatus, bytes, str, dict[str, str]]:
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        try:
            query = parse_qs(parts.query, max_num_fields=10)
        except ValueError:
            raise _HttpError(HTTPStatus.BAD_REQUEST, "too many query parameters") from None
        if segments in ([""], []):
            return self._ok(_index_html(self.app.entries()), "text/html; charset=utf-8", 5)
        if segments == ["index.json"]:
            listed = [
                {**e.to_json(), "page": f"/bundles/{e.data_id}/{e.config_id}"}
                for e in self.app.entries()
            ]
            body = json.dumps(listed, indent=1)
            return self._ok(body.encode(), "application/json", 5)
        if segments == ["favicon.ico"]:  # browsers ask; an error here would reach their console
            return HTTPStatus.NO_CONTENT, b"", "image/x-icon", {"Cache-Control": "max-age=86400"}
        if len(segments) == 2 and segments[0] == "static" and segments[1] in VIEWER_FILES:
            kind = "text/javascript" if segments[1].endswith(".js") else "text/css"
            body = viewer_file(segments[1]).read_bytes()
            return self._ok(body, f"{kind}; charset=utf-8", 86_400)
        if len(segments) == 2 and segments[0] == "datasets":
            name = _checked(validate_data_id, segments[1], "dataset name")
            data_id, config_id = _found(lambda: self.app.store.resolve(dataset=name))
            target = f"/bundles/{quote(data_id)}/{quote(config_id)}"
            if parts.query:  # ?embed=... applies to the page redirected to
                target += f"?{parts.query}"
            return HTTPStatus.FOUND, b"", "text/plain", {"Location": target}
        if segments[:1] == ["bundles"] and len(segments) in (3, 4):
            data_id = _checked(validate_data_id, segments[1], "data_id")
            config_id = _checked(validate_config_id, segments[2], "config_id")
            return self._bundle_route(data_id, config_id, segments[3:], query)
        raise _HttpError(HTTPStatus.NOT_FOUND, "not found")

    def _bundle_route(
        self, data_id: str, config_id: str, rest: list[str], query: dict[str, list[str]]
    ) -> tuple[HTTPStatus, bytes, str, dict[str, str]]:
        if not rest:
            embed = query.get("embed", ["DFViewer"])[-1]
            if embed not in EMBED_TYPES:
                raise _HttpError(HTTPStatus.BAD_REQUEST, f"embed must be one of {EMBED_TYPES}")
            body = _found(lambda: self.app.page(data_id, config_id, embed))
            return self._ok(body, "text/html; charset=utf-8", 300)
        bundle = _found(lambda: self.app.bundle(data_id, config_id))
        if rest == ["stats.json"]:
            payload = {
                "data_id": bundle.data_id,
                "config_id": bundle.config_id,
                "rows": bundle.rows,
                "columns": len(bundle.stats),
                "meta": json_safe(bundle.meta),
                "stats": json_safe(bundle.stats),
            }
            return self._ok(json.dumps(payload).encode(), "application/json", 300)
        if rest == ["window.parquet"]:
            start = _row_number(query, "start", 0)
            end = _row_number(query, "end", bundle.rows)
            import pyarrow.parquet as pq

            buffer = io.BytesIO()
            pq.write_table(bundle.window(start, end), buffer)
            return self._ok(buffer.getvalue(), "application/vnd.apache.parquet", 300)
        raise _HttpError(HTTPStatus.NOT_FOUND, "not found")

    @staticmethod
    def _ok(
        body: bytes, content_type: str, max_age: int
    ) -> tuple[HTTPStatus, bytes, str, dict[str, str]]:
        return HTTPStatus.OK, body, content_type, {"Cache-Control": f"max-age={max_age}"}


def _checked(validate: Callable[..., str], value: str, what: str) -> str:
    try:
        if what == "config_id":
            return validate(value)
        return validate(value, what=what)
    except (UnsafeDataIdError, ValueError) as exc:
        raise _HttpError(HTTPStatus.BAD_REQUEST, f"invalid {what}: {exc}") from None


def _found(load: Callable[[], Any]) -> Any:
    try:
        return load()
    except (BundleNotFound, BundleMismatch) as exc:  # a mismatch: stored under other configs
        raise _HttpError(HTTPStatus.NOT_FOUND, str(exc)) from None
    except BundleCorrupted:
        raise _HttpError(HTTPStatus.BAD_GATEWAY, "the stored bundle failed verification") from None
    except BundleLoadTimeout:
        raise _HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "the store is busy; retry") from None
    except StoreUnavailable:
        log.warning("store unavailable", exc_info=True)
        raise _HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "the store is unavailable") from None


def _row_number(query: dict[str, list[str]], name: str, default: int) -> int:
    if name not in query:
        return default
    text = query[name][-1]
    # ASCII digits only ("²".isdigit() is true), and few enough to be a row number.
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_ROW_DIGITS:
        raise _HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be a non-negative integer")
    return int(text)


def _index_html(entries: list[BundleEntry]) -> bytes:
    now = _dt.datetime.now(_dt.UTC)
    rows = []
    for e in entries:
        link = f"/bundles/{e.data_id}/{e.config_id}"
        rows.append(
            "<tr>"
            f"<td>{html.escape(e.dataset or '-')}</td>"
            f'<td><a href="{html.escape(link)}">{html.escape(e.data_id)}</a></td>'
            f"<td><code>{html.escape(e.config_id[:8])}</code></td>"
            f'<td class="n">{e.rows:,}</td><td class="n">{e.columns:,}</td>'
            f'<td class="n" title="{html.escape(e.created_at.isoformat())}">'
            f"{human_age(now - e.created_at)}</td>"
            f'<td><a href="{html.escape(link)}?embed=Buckaroo">Buckaroo</a></td>'
            "</tr>"
        )
    body = "\n".join(rows) or '<tr><td colspan="7">no bundles in this store yet</td></tr>'
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>buckaroo-assets bundles</title>
<style>body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}
td, th {{ padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }}
.n {{ text-align: right; }}</style></head>
<body><h1>Bundles</h1>
<table><thead><tr><th>dataset</th><th>version (data_id)</th><th>config</th><th class="n">rows</th>
<th class="n">columns</th><th class="n">age</th><th>view</th></tr></thead>
<tbody>
{body}
</tbody></table></body></html>
"""
    return page.encode()
