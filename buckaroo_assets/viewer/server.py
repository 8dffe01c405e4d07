"""A read-only HTTP server that shows a store's bundles in Buckaroo's viewer.

Routes (GET and HEAD only)::

    /                                            index of stored bundles and builds in progress
    /index.json                                  the same as JSON
    /datasets/<name>                             redirect to the dataset's latest bundle page
    /bundles/<data_id>/<config_id>               viewer page (?embed=DFViewer|Buckaroo)
    /bundles/<data_id>/<config_id>/stats.json    per-column stats and meta
    /bundles/<data_id>/<config_id>/window.parquet  rows ?start=&end= of the stored window
    /diff/<old data_id>/<new data_id>            what changed between two versions (HTML)
    /diff/<old data_id>/<new data_id>/diff.json  the same as JSON
    /static/static-embed.js, /static/static-embed.css  Buckaroo's viewer files
    /favicon.ico                                 empty (204)

Connections live on one asyncio loop (aiohttp's HTTP/1.1 server), so an idle
or half-sent one holds a socket, never a thread, and a few slow clients cannot
starve the rest; timeouts on request heads and on unread replies, and a cap on
open connections, bound what any client can hold.  Store reads and rendering
block, so they run on ``workers`` threads while the loop keeps answering.
Every path segment is checked against the id rules before the store is
touched, so no request can name anything outside the store's bundles.
Bundles come through the reader's verified, byte-bounded cache.

Rows first: while a bundle is being built, its page (and ``stats.json``,
``window.parquet``) serve the build's partial state — the first rows, a
"building" banner, no stats — uncached, and the page reloads itself every
few seconds until the complete bundle is committed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as _dt
import functools
import html
import io
import json
import logging
import queue
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qs, quote, unquote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http import HttpProcessingError

from ..bundle.ids import validate_config_id, validate_data_id
from ..bundle.model import Bundle
from ..changes.compare import diff
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
from ..store.partial_state import PartialEntry
from ..units import human_age
from .artifact import EMBED_TYPES, json_safe
from .page import VIEWER_FILES, bundle_page, viewer_file

__all__ = ["BundleServer"]

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 512
_BODY_SECONDS = 5.0  # no route reads a request body: drain one this long, then hang up
_SEND_SECONDS = 60.0  # a client that has not taken its response by then is cut off
_SHUTDOWN_SECONDS = 1.0  # grace for responses under way at shutdown (aiohttp waits it twice)
_BACKLOG = 128
_PAGE_CACHE = 32  # rendered pages kept; bundles are immutable, so pages are too
_INDEX_SECONDS = 5.0  # the index lists every manifest: reuse one listing this long
_REFRESH_SECONDS = 5  # a build's page reloads itself this often until its bundle is complete
_MAX_ROW_DIGITS = 18  # any row number fits; more digits are not one
_MAX_QUERY_FIELDS = 10
_LOGGED_TARGET = 200  # characters of a request target an access-log line keeps
_SECURITY_HEADERS = {
    "Server": "buckaroo-assets",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_CUT_OFF = web.RequestKey("cut_off", bool)  # the reply was not taken in time
_HTML = "text/html; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 22\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    b"too many connections\r\n"
)

T = TypeVar("T")


class _HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Reply(NamedTuple):
    status: HTTPStatus
    body: bytes
    content_type: str
    headers: dict[str, str]


_Work = Callable[[], _Reply]
_Job = tuple[concurrent.futures.Future[Any], Callable[[], Any]]


class BundleServer:
    """Serve ``store`` on ``host:port`` (port 0 picks a free one) until :meth:`shutdown`.

    ``workers`` threads read bundles and render pages; more such requests wait
    for one, while the loop goes on accepting and answering the rest.  A
    connection is closed when no complete request head arrives within
    ``header_timeout`` seconds of its opening or of its previous response (the
    header and the keep-alive timeout in one).  Beyond ``max_connections``
    open connections, a new one is answered 503 and closed.
    """

    def __init__(
        self,
        store: BundleStore,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        workers: int = DEFAULT_WORKERS,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if not header_timeout > 0:
            raise ValueError(f"header_timeout must be > 0, got {header_timeout}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self.store = store
        self._workers = workers
        self._header_timeout = header_timeout
        self._max_connections = max_connections
        self._pages: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self._index: tuple[float, list[BundleEntry], list[PartialEntry]] | None = None
        self._lock = threading.Lock()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((host, port), family=family, backlog=_BACKLOG)
        self._address: tuple[str, int] = self._sock.getsockname()[:2]
        self._closing = False
        self._wake: Callable[[], None] | None = None  # stops the running loop, from any thread
        self._started = threading.Event()
        self._done = threading.Event()
        self._done.set()

    @property
    def url(self) -> str:
        host, port = self._address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def serve_forever(self) -> None:
        """Serve on this thread until :meth:`shutdown` (from another) or KeyboardInterrupt."""
        with self._lock:
            if self._closing:
                return
            self._done.clear()
        try:
            workers = _Workers(self._workers)
            try:
                asyncio.run(self._serve(workers))
            finally:
                workers.close(_SHUTDOWN_SECONDS)
        finally:
            self._started.set()
            self._done.set()

    def shutdown(self) -> None:
        """Stop serving and close the socket; returns once the serving loop has ended."""
        with self._lock:
            self._closing = True
            wake = self._wake
        if wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                wake()
        self._done.wait()
        self._sock.close()

    def __enter__(self) -> BundleServer:
        threading.Thread(target=self.serve_forever, name="buckaroo-server", daemon=True).start()
        self._started.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ------------------------------------------------------------ content

    def entries(self) -> list[BundleEntry]:
        """Every stored bundle, newest first (one listing reused for a few seconds)."""
        return self._listing()[0]

    def builds(self) -> list[PartialEntry]:
        """Builds in progress whose bundle is not committed yet, newest first (stale ones left out)."""
        return self._listing()[1]

    def _listing(self) -> tuple[list[BundleEntry], list[PartialEntry]]:
        with self._lock:
            if self._index and time.monotonic() - self._index[0] < _INDEX_SECONDS:
                return self._index[1], self._index[2]
        entries = sorted(self.store.list(), key=lambda e: e.created_at, reverse=True)
        done = {(e.data_id, e.config_id) for e in entries}
        builds = [
            b for b in self.store.in_progress()
            if not b.stale and (b.data_id, b.config_id) not in done
        ]
        with self._lock:
            self._index = (time.monotonic(), entries, builds)
        return entries, builds

    def page(self, data_id: str, config_id: str, embed_type: str) -> tuple[bytes, bool]:
        """A bundle's viewer page and whether it is a build's partial page.

        Complete bundles' pages are rendered once and kept among the most
        recent; a partial page is rendered afresh, reloading itself.
        """
        key = (data_id, config_id, embed_type)
        with self._lock:
            if key in self._pages:
                self._pages.move_to_end(key)
                return self._pages[key], False
        bundle = self.bundle(data_id, config_id)
        if bundle.partial:
            page = bundle_page(bundle, embed_type, assets_url="/static", refresh=_REFRESH_SECONDS)
            return page.encode(), True
        body = bundle_page(bundle, embed_type, assets_url="/static").encode()
        with self._lock:
            self._pages[key] = body
            while len(self._pages) > _PAGE_CACHE:
                self._pages.popitem(last=False)
        return body, False

    def bundle(self, data_id: str, config_id: str) -> Bundle:
        """The complete bundle, or while it is being built its partial one (``bundle.partial``)."""
        return load_bundle(data_id, store=self.store, config=config_id, allow_partial=True)

    # ------------------------------------------------------------ serving

    async def _serve(self, workers: _Workers) -> None:
        stop = asyncio.Event()
        with self._lock:
            if self._closing:
                return
            self._wake = functools.partial(asyncio.get_running_loop().call_soon_threadsafe, stop.set)
        server = _CappedServer(
            functools.partial(self._handle, workers),
            self._max_connections,
            keepalive_timeout=self._header_timeout,
            lingering_time=_BODY_SECONDS,
            access_log=log,
            access_log_class=_AccessLog,
            logger=_ProtocolLog(log, {}),
        )
        runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_SECONDS)
        await runner.setup()
        try:
            await web.SockSite(runner, self._sock, backlog=_BACKLOG).start()
            self._started.set()
            await stop.wait()
        finally:
            await runner.cleanup()
            with self._lock:
                self._wake = None

    async def _handle(self, workers: _Workers, request: web.BaseRequest) -> web.Response:
        reply = await self._reply(workers, request)
        headers = {**_SECURITY_HEADERS, "Content-Type": reply.content_type, **reply.headers}
        response = web.Response(status=reply.status, body=reply.body, headers=headers)
        try:  # sent here, not by aiohttp, to bound the time a client may take to read it
            async with asyncio.timeout(_SEND_SECONDS):
                await response.prepare(request)
                await response.write_eof()
        except (TimeoutError, ConnectionError) as exc:
            request[_CUT_OFF] = isinstance(exc, TimeoutError)
            if request.transport is not None:
                request.transport.abort()  # aiohttp's own send then fails, and logs the request
        return response

    async def _reply(self, workers: _Workers, request: web.BaseRequest) -> _Reply:
        if request.method not in ("GET", "HEAD"):
            return _Reply(HTTPStatus.METHOD_NOT_ALLOWED, b"read-only: GET and HEAD only\n",
                          _TEXT, {"Allow": "GET, HEAD"})
        try:
            routed = self._route(request.rel_url.raw_path, request.rel_url.raw_query_string)
            return await workers.run(routed) if callable(routed) else routed
        except _HttpError as exc:
            return _Reply(exc.status, f"{exc}\n".encode(), _TEXT, {})
        except Exception as exc:  # a server bug must not leak internals or end the connection
            log.exception("failed to serve %s", _shown(request.raw_path))
            return _Reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}\n".encode(),
                          _TEXT, {})

    # ------------------------------------------------------------ routing

    def _route(self, path: str, query_string: str) -> _Reply | _Work:
        """What a request asks for: a reply at once, or the blocking work that makes it."""
        segments = [unquote(s) for s in path.split("/")[1:]]
        try:
            query = parse_qs(query_string, max_num_fields=_MAX_QUERY_FIELDS)
        except ValueError:
            raise _HttpError(HTTPStatus.BAD_REQUEST, "too many query parameters") from None
        if segments in ([""], []):
            return lambda: _ok(_index_html(*self._listing()), _HTML, 5)
        if segments == ["index.json"]:
            return lambda: _ok(_index_json(*self._listing()), "application/json", 5)
        if segments == ["favicon.ico"]:  # browsers ask; an error here would reach their console
            return _Reply(HTTPStatus.NO_CONTENT, b"", "image/x-icon", {"Cache-Control": "max-age=86400"})
        if len(segments) == 2 and segments[0] == "static" and segments[1] in VIEWER_FILES:
            name = segments[1]
            kind = "text/javascript" if name.endswith(".js") else "text/css"
            return lambda: _ok(_viewer_bytes(name), f"{kind}; charset=utf-8", 86_400)
        if len(segments) == 2 and segments[0] == "datasets":
            name = _checked(validate_data_id, segments[1], "dataset name")
            return lambda: self._latest(name, query_string)
        if segments[:1] == ["bundles"] and len(segments) in (3, 4):
            data_id = _checked(validate_data_id, segments[1], "data_id")
            config_id = _checked(validate_config_id, segments[2], "config_id")
            return self._bundle_route(data_id, config_id, segments[3:], query)
        if segments[:1] == ["diff"] and (len(segments) == 3 or segments[3:] == ["diff.json"]):
            old = _checked(validate_data_id, segments[1], "data_id")
            new = _checked(validate_data_id, segments[2], "data_id")
            as_json = len(segments) == 4
            return lambda: self._diff(old, new, as_json)
        raise _HttpError(HTTPStatus.NOT_FOUND, "not found")

    def _diff(self, old: str, new: str, as_json: bool) -> _Reply:
        changes = _found(lambda: diff(old, new, store=self.store))
        if as_json:
            return _ok(json.dumps(changes.to_json()).encode(), "application/json", 300)
        return _ok(changes.to_html().encode(), _HTML, 300)

    def _latest(self, name: str, query_string: str) -> _Reply:
        def resolve() -> tuple[str, str]:
            try:
                return self.store.resolve(dataset=name)
            except BundleNotFound:  # never published yet: the page of its first build, if one runs
                builds = [b for b in self.store.in_progress(dataset=name) if not b.stale]
                if not builds:
                    raise
                return builds[0].data_id, builds[0].config_id

        data_id, config_id = _found(resolve)
        target = f"/bundles/{quote(data_id)}/{quote(config_id)}"
        if query_string:  # ?embed=... applies to the page redirected to
            target += f"?{query_string}"
        return _Reply(HTTPStatus.FOUND, b"", _TEXT, {"Location": target})

    def _bundle_route(
        self, data_id: str, config_id: str, rest: list[str], query: dict[str, list[str]]
    ) -> _Work:
        if not rest:
            embed = query.get("embed", ["DFViewer"])[-1]
            if embed not in EMBED_TYPES:
                raise _HttpError(HTTPStatus.BAD_REQUEST, f"embed must be one of {EMBED_TYPES}")

            def page() -> _Reply:
                body, partial = _found(lambda: self.page(data_id, config_id, embed))
                return _ok(body, _HTML, None if partial else 300)

            return page
        if rest == ["stats.json"]:

            def stats() -> _Reply:
                bundle = self._loaded(data_id, config_id)
                return _ok(_stats_json(bundle), "application/json", None if bundle.partial else 300)

            return stats
        if rest == ["window.parquet"]:
            start = _row_number(query, "start") or 0
            end = _row_number(query, "end")

            def window() -> _Reply:
                import pyarrow.parquet as pq

                buffer = io.BytesIO()
                bundle = self._loaded(data_id, config_id)
                pq.write_table(bundle.window(start, end), buffer)
                max_age = None if bundle.partial else 300
                return _ok(buffer.getvalue(), "application/vnd.apache.parquet", max_age)

            return window
        raise _HttpError(HTTPStatus.NOT_FOUND, "not found")

    def _loaded(self, data_id: str, config_id: str) -> Bundle:
        return _found(lambda: self.bundle(data_id, config_id))


class _Workers:
    """Threads for blocking work; daemons, so a store read stuck at exit cannot hold the process."""

    def __init__(self, count: int) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"buckaroo-server-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def run(self, job: Callable[[], T]) -> asyncio.Future[T]:
        """``job()`` on a free thread; cancelling the result drops it if it has not started."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((future, job))
        return asyncio.wrap_future(future)

    def close(self, timeout: float) -> None:
        """End the threads once the jobs queued so far are done, waiting at most ``timeout``."""
        for _ in self._threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        while (item := self._jobs.get()) is not None:
            future, job = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the waiting request, which reports it
                future.set_exception(exc)


class _CappedServer(web.Server):
    """aiohttp's connection manager, refusing connections past ``limit`` with a 503."""

    def __init__(self, handler: Any, limit: int, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._limit = limit

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if len(self.connections) > self._limit:
            log.warning("%s refused: %d connections open", _peer(transport), self._limit)
            transport.write(_BUSY)
            handler.force_close()


class _AccessLog(AbstractAccessLogger):
    """One line per request: client, method, target, status, bytes sent, milliseconds."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if request.get(_CUT_OFF):
            note = " (cut off: too slow to read the reply)"
        elif request.transport is None or request.transport.is_closing():
            note = " (client went away)"
        else:
            note = ""
        self.logger.info(
            '%s "%s %s" %d %d %.1fms%s', request.remote, request.method,
            _shown(request.raw_path), response.status, response.body_length, time * 1000, note,
        )


class _ProtocolLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp logs a malformed request with a traceback; its access line already says 400."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError | ConnectionError):
            self.debug("%s: %s", str(msg) % args, " ".join(str(exc_info).split()))
        else:
            self.error(msg, *args, exc_info=exc_info, **kwargs)


def _ok(body: bytes, content_type: str, max_age: int | None) -> _Reply:
    """A 200; ``max_age=None`` for what changes soon (a build's partial state): never cached."""
    cache = "no-store" if max_age is None else f"max-age={max_age}"
    return _Reply(HTTPStatus.OK, body, content_type, {"Cache-Control": cache})


def _shown(target: str) -> str:
    return target if len(target) <= _LOGGED_TARGET else target[:_LOGGED_TARGET] + "..."


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) else "?"


@functools.cache
def _viewer_bytes(name: str) -> bytes:
    return viewer_file(name).read_bytes()


def _checked(validate: Callable[..., str], value: str, what: str) -> str:
    try:
        if what == "config_id":
            return validate(value)
        return validate(value, what=what)
    except (UnsafeDataIdError, ValueError) as exc:
        raise _HttpError(HTTPStatus.BAD_REQUEST, f"invalid {what}: {exc}") from None


def _found(load: Callable[[], T]) -> T:
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


def _row_number(query: dict[str, list[str]], name: str) -> int | None:
    if name not in query:
        return None
    text = query[name][-1]
    # ASCII digits only ("²".isdigit() is true), and few enough to be a row number.
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_ROW_DIGITS:
        raise _HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be a non-negative integer")
    return int(text)


def _stats_json(bundle: Bundle) -> bytes:
    payload = {
        "data_id": bundle.data_id,
        "config_id": bundle.config_id,
        "partial": bundle.partial,
        "rows": bundle.rows,
        "columns": len(bundle.stats),
        "meta": json_safe(bundle.meta),
        "stats": json_safe(bundle.stats),
    }
    return json.dumps(payload).encode()


def _is_latest(entry: BundleEntry) -> bool:
    """Whether the dataset's latest pointer (what ``resolve(dataset=...)`` reads) names this bundle.

    ``list()`` read every dataset pointer already: ``pinned_by`` holds the
    bare dataset name exactly when its latest pointer names this bundle.
    """
    return entry.dataset is not None and entry.dataset in entry.pinned_by


def _index_json(entries: list[BundleEntry], builds: list[PartialEntry]) -> bytes:
    listed = [
        {**e.to_json(), "state": "complete", "latest": _is_latest(e),
         "page": f"/bundles/{e.data_id}/{e.config_id}"}
        for e in entries
    ]  # fmt: skip
    listed += [
        {**b.to_json(), "latest": False, "page": f"/bundles/{b.data_id}/{b.config_id}"}
        for b in builds
    ]
    return json.dumps(listed, indent=1).encode()


def _previous_versions(entries: list[BundleEntry]) -> dict[str, str]:
    """Per dataset, the newest data_id other than its latest's (entries come newest first)."""
    latest = {e.dataset: e.data_id for e in entries if e.dataset and _is_latest(e)}
    previous: dict[str, str] = {}
    for e in entries:
        if e.dataset in latest and e.data_id != latest[e.dataset]:
            previous.setdefault(e.dataset, e.data_id)
    return previous


def _build_row(build: PartialEntry, now: _dt.datetime) -> str:
    """A build in progress: its page shows the first rows until the bundle is committed."""
    link = f"/bundles/{build.data_id}/{build.config_id}"
    total = "?" if build.rows_total is None else f"{build.rows_total:,}"
    return (
        "<tr>"
        f"<td>{html.escape(build.dataset or '-')}</td>"
        f'<td><a href="{html.escape(link)}">{html.escape(build.data_id)}</a>'
        ' <span class="building" title="stats not ready yet: its page shows the first rows">'
        "building</span></td>"
        f"<td><code>{html.escape(build.config_id[:8])}</code></td>"
        f'<td class="n">{total}</td><td class="n">{build.columns:,}</td>'
        f'<td class="n" title="{html.escape(build.started_at.isoformat())}">'
        f"started {human_age(now - build.started_at)} ago</td>"
        f'<td><a href="{html.escape(link)}?embed=Buckaroo">Buckaroo</a></td>'
        "</tr>"
    )


def _index_html(entries: list[BundleEntry], builds: list[PartialEntry]) -> bytes:
    now = _dt.datetime.now(_dt.UTC)
    previous = _previous_versions(entries)
    rows = [_build_row(b, now) for b in builds]
    for e in entries:
        link = f"/bundles/{e.data_id}/{e.config_id}"
        changes = ""
        if _is_latest(e) and e.dataset in previous:
            since = f"/diff/{quote(previous[e.dataset])}/{quote(e.data_id)}"
            changes = f' · <a href="{html.escape(since)}">changes</a>'

        badge = (
            f' <span class="latest" title="/datasets/{html.escape(e.dataset or "")} opens this">'
            "latest</span>"
            if _is_latest(e)
            else ""
        )
        rows.append(
            "<tr>"
            f"<td>{html.escape(e.dataset or '-')}</td>"
            f'<td><a href="{html.escape(link)}">{html.escape(e.data_id)}</a>{badge}</td>'
            f"<td><code>{html.escape(e.config_id[:8])}</code></td>"
            f'<td class="n">{e.rows:,}</td><td class="n">{e.columns:,}</td>'
            f'<td class="n" title="{html.escape(e.created_at.isoformat())}">'
            f"{human_age(now - e.created_at)}</td>"
            f'<td><a href="{html.escape(link)}?embed=Buckaroo">Buckaroo</a>{changes}</td>'
            "</tr>"
        )
    body = "\n".join(rows) or '<tr><td colspan="7">no bundles in this store yet</td></tr>'
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>buckaroo-assets bundles</title>
<style>body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}
td, th {{ padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }}
.n {{ text-align: right; }}
.latest {{ font-size: 0.8em; padding: 0 0.4em; border-radius: 0.6em; background: #dfd; }}
.building {{ font-size: 0.8em; padding: 0 0.4em; border-radius: 0.6em; background: #fff3cd; }}</style></head>
<body><h1>Bundles</h1>
<table><thead><tr><th>dataset</th><th>version (data_id)</th><th>config</th><th class="n">rows</th>
<th class="n">columns</th><th class="n">age</th><th>view</th></tr></thead>
<tbody>
{body}
</tbody></table></body></html>
"""
    return page.encode()
