"""``buckaroo-assets``: list, inspect, verify, garbage-collect and build bundles from a shell.

An operator's tool over one store (``--store URL`` or ``$BUCKAROO_STORE_URL``).
Tables are for people, ``--json`` is for scripts.  Exit codes are a contract
that scripts and cron jobs rely on:

* 0 — success;
* 1 — something failed at runtime (a bundle is missing, damaged or does not
  fit, ``verify`` found damage, a source cannot be read), reported as one
  ``error: ...`` line on stderr, never a traceback (unless ``--traceback``);
* 2 — the command line is wrong (argparse's own code), including unsafe ids,
  bad durations and a missing store.

Storage options may hold credentials: they are never printed, and values of
secret-looking keys are blanked out of error messages.  pyarrow, fsspec and
the stats engine are imported only by the subcommand that needs them, so
``--help`` is instant; pandas and dagster are never imported.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from .errors import BuckarooAssetsError, UnsafeDataIdError
from .identity import validate_data_id
from .version import __version__

if TYPE_CHECKING:
    from .bundle import Bundle
    from .store import BundleEntry, BundleStore

__all__ = ["build_parser", "main", "parse_duration", "parse_options"]

PROG = "buckaroo-assets"
STORE_ENV = "BUCKAROO_STORE_URL"  # the reader's variable; not imported from it to keep --help fast
SHORT_ID = 8  # config_id characters shown in tables; --json always has the full id
CELL_WIDTH = 32  # longest value shown in a table cell before it is cut

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhdw])")
_MAX_DURATION = _dt.timedelta(days=365 * 1000)  # "now - duration" must stay a valid datetime
_CONFIG_PREFIX = re.compile(r"[0-9a-f]{4,32}", re.ASCII)
_SECRET_KEY = re.compile(r"key|secret|token|passw|credential|session|sas|signature|auth", re.I)
_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")


class UsageError(Exception):
    """A command-line mistake found after parsing; exits 2 like argparse's own errors."""


# ---------------------------------------------------------------- argument types


def parse_duration(text: str) -> _dt.timedelta:
    """``30m``, ``12h``, ``7d``, ``2w``, ``1h30m``, ``1.5d``: units s, m, h, d, w are required."""
    compact = re.sub(r"\s+", "", text).lower()
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use a number and a unit s, m, h, d or w "
            "(e.g. 30m, 12h, 7d, 2w)"
        )
    try:
        delta = _dt.timedelta(seconds=sum(float(n) * _DURATION_UNITS[u] for n, u in parts))
    except OverflowError:
        delta = _MAX_DURATION + _dt.timedelta(days=1)
    if delta > _MAX_DURATION:
        raise argparse.ArgumentTypeError(f"duration {text!r} is longer than 1000 years")
    return delta


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a whole number >= 1, got 0")
    return value


def _data_id(text: str) -> str:
    try:
        return validate_data_id(text)
    except UnsafeDataIdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _dataset(text: str) -> str:
    try:
        return validate_data_id(text, what="dataset name")
    except UnsafeDataIdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _config_id(text: str) -> str:
    if not _CONFIG_PREFIX.fullmatch(text):
        shown = repr(text)[:60]
        raise argparse.ArgumentTypeError(
            f"config_id must be 32 lowercase hex characters (or a unique prefix of at least 4), "
            f"got {shown}"
        )
    return text


def _option(text: str) -> tuple[tuple[str, ...], Any]:
    """One ``KEY=VALUE``; the value is never echoed back, it may be a secret."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    path = tuple(key.split("."))
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE (the value is not shown)")
    if not all(path):
        raise argparse.ArgumentTypeError(f"option key {key!r} has an empty dotted part")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return path, value


def parse_options(pairs: Iterable[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    """Nest parsed ``KEY=VALUE`` pairs: ``client_kwargs.endpoint_url=...`` becomes a sub-dict."""
    out: dict[str, Any] = {}
    for path, value in pairs:
        node = out
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                taken = ".".join(path[: depth + 1])
                raise UsageError(f"option {taken!r} is given both a value and sub-keys")
            node = child
        node[path[-1]] = value
    return out


def _secret_values(options: dict[str, Any], under_secret: bool = False) -> set[str]:
    """String values of secret-looking keys, to blank out of anything printed."""
    found: set[str] = set()
    for key, value in options.items():
        secret = under_secret or bool(_SECRET_KEY.search(str(key)))
        if isinstance(value, dict):
            found |= _secret_values(value, secret)
        elif secret and isinstance(value, str) and len(value) >= 3:
            found.add(value)
    return found


# ---------------------------------------------------------------- formatting


def human_size(n: int) -> str:
    """Bytes as people read them: ``512 B``, ``12.3 KiB``, ``4.0 MiB``."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if round(value, 1) < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} PiB"


def human_age(delta: _dt.timedelta) -> str:
    """How long ago, at the coarsest useful unit: ``42s``, ``5m``, ``3h``, ``6d``, ``8w``."""
    s = max(0, int(delta.total_seconds()))
    for limit, unit, size in ((60, "s", 1), (3600, "m", 60), (86_400, "h", 3600)):
        if s < limit:
            return f"{s // size}{unit}"
    return f"{s // 86_400}d" if s < 14 * 86_400 else f"{s // 604_800}w"


def _when(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def cell(value: Any, width: int = CELL_WIDTH) -> str:
    """One value as a single table cell: printable, one line, at most ``width`` characters."""
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.6g}" if math.isfinite(value) else str(value)
    elif isinstance(value, _dt.date | _dt.time):
        text = value.isoformat()
    elif isinstance(value, str):
        text = value if value.isprintable() else repr(value)[1:-1]
        text = text or '""'
    else:
        text = str(value)
        text = text if text.isprintable() else repr(text)[1:-1]
    return text if len(text) <= width else text[: width - 3] + "..."


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[int] = ()) -> str:
    """Columns padded to a common width; numbers (the ``right`` positions) right-aligned."""
    body = [list(r) for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]
    aligned = set(right)
    lines = []
    for row in [list(headers), *body]:
        cells = [
            c.rjust(w) if i in aligned else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _fields(pairs: Sequence[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in pairs)


def _print_json(obj: Any) -> None:
    # ASCII-only JSON is valid JSON on any terminal encoding.
    print(json.dumps(obj, indent=2, ensure_ascii=True, allow_nan=False))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------- store


class _Context:
    """What every subcommand needs: the parsed args and what may not be printed."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.storage_options = parse_options(
            [*getattr(args, "global_storage_options", []), *getattr(args, "storage_options", [])]
        )
        self.source_options = parse_options(getattr(args, "source_options", []))
        self.secrets = _secret_values(self.storage_options) | _secret_values(self.source_options)

    def redact(self, text: str) -> str:
        text = _URL_USERINFO.sub(r"\1***@", text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def store(self) -> BundleStore:
        """The store named on the command line or in the environment; usage error if neither."""
        url = getattr(self.args, "store", None) or self.args.global_store
        url = url or os.environ.get(STORE_ENV)
        if not url:
            raise UsageError(f"no store given: pass --store URL or set {STORE_ENV}")
        from .reader import open_store

        try:
            return open_store(url, self.storage_options or None)
        except ValueError as exc:  # unknown protocol, malformed URL
            raise UsageError(f"cannot open store {url!r}: {exc}") from None
        except TypeError as exc:  # a storage option the filesystem does not take
            raise UsageError(f"cannot open store {url!r} with these options: {exc}") from None


def _short_label(label: str) -> str:
    """``dataset@<config_id>`` pointer labels with the config_id shortened as in CONFIG."""
    dataset, at, config_id = label.partition("@")
    return f"{dataset}@{config_id[:SHORT_ID]}" if at else label


def _entries_table(entries: Sequence[BundleEntry], *, pinned: bool = True) -> str:
    now = _dt.datetime.now(_dt.UTC)
    headers = ["DATASET", "DATA_ID", "CONFIG", "ROWS", "COLS", "SIZE", "CREATED (UTC)", "AGE"]
    rows = []
    for e in entries:
        row = [
            e.dataset or "-", e.data_id, e.config_id[:SHORT_ID], f"{e.rows:,}", f"{e.columns:,}",
            human_size(e.bytes), _when(e.created_at), human_age(now - e.created_at),
        ]
        if pinned:
            row.append(", ".join(_short_label(p) for p in e.pinned_by) or "-")
        rows.append(row)
    if pinned:
        headers.append("PINNED BY")
    return table(headers, rows, right=(3, 4, 5, 7))


# ---------------------------------------------------------------- subcommands


def _cmd_ls(ctx: _Context) -> int:
    """Every published bundle, oldest first, with the dataset pointers that pin it."""
    args = ctx.args
    store = ctx.store()
    entries = store.list()
    if args.dataset is not None:
        entries = [e for e in entries if e.dataset == args.dataset]
    if args.json:
        _print_json({"store": ctx.redact(store.url), "bundles": [e.to_json() for e in entries]})
        return EXIT_OK
    if not entries:
        print(f"no bundles in {ctx.redact(store.url)}")
        return EXIT_OK
    print(_entries_table(entries))
    total = sum(e.bytes for e in entries)
    print(f"\n{_plural(len(entries), 'bundle')}, {human_size(total)}")
    return EXIT_OK


def _full_config_id(ctx: _Context, store: BundleStore) -> str | None:
    """A config_id prefix (as ``ls`` shows it) widened to the one stored id it names."""
    args = ctx.args
    prefix = args.config_id
    if prefix is None or len(prefix) == 32:
        return prefix
    if args.data_id is not None:
        what, mine = f"data_id {args.data_id!r}", lambda e: e.data_id == args.data_id
    else:
        what, mine = f"dataset {args.dataset!r}", lambda e: e.dataset == args.dataset
    found = sorted(
        {e.config_id for e in store.list() if mine(e) and e.config_id.startswith(prefix)}
    )
    if len(found) == 1:
        return found[0]
    if not found:
        from .errors import BundleNotFound

        raise BundleNotFound(f"no bundle of {what} has a config_id starting with {prefix!r}")
    raise UsageError(f"config_id prefix {prefix!r} is ambiguous: {', '.join(found)}")


_SHOWN_STATS = ("dtype", "null_count", "distinct_count", "min", "max", "mean", "most_freq")


def _stat_cell(entry: dict[str, Any], stat: str) -> str:
    value = entry.get(stat)
    if stat in ("null_count", "distinct_count") and isinstance(value, int):
        # Past distinct_threshold the count comes from a sketch: say so.
        sketched = stat == "distinct_count" and entry.get("distinct_count_exact") is False
        return f"~{value:,}" if sketched else f"{value:,}"
    if stat == "dtype" and entry.get("skipped"):
        return f"{cell(value)} (skipped)"
    return cell(value)


def _window_rows(bundle: Bundle, n: int) -> tuple[list[Any], list[list[Any]]]:
    """Labels and the first ``n`` rows of the stored window, row-major."""
    window = bundle.window(0, n)
    labels = [label for _, label in bundle.columns]
    columns = [window.column(i).to_pylist() for i in range(window.num_columns)]
    return labels, [list(row) for row in zip(*columns, strict=True)]


def _requested_bundle(ctx: _Context) -> tuple[BundleStore, Bundle]:
    """The bundle named by DATA_ID or --dataset (and --config-id), read like an app would."""
    args = ctx.args
    if (args.data_id is None) == (args.dataset is None):
        raise UsageError("give either DATA_ID or --dataset NAME (exactly one)")
    store = ctx.store()
    config_id = _full_config_id(ctx, store)
    from .reader import load_bundle

    return store, load_bundle(args.data_id, dataset=args.dataset, store=store, config=config_id)


def _cmd_show(ctx: _Context) -> int:
    """Meta and per-column stats of one bundle, read through ``load_bundle`` like an app would."""
    args = ctx.args
    store, bundle = _requested_bundle(ctx)
    manifest = ctx.redact(store.manifest_url(bundle.data_id, bundle.config_id))
    rows = args.rows or 0
    labels, window = _window_rows(bundle, rows) if rows else ([], [])
    if args.json:
        from . import codec

        payload: dict[str, Any] = {
            "data_id": bundle.data_id,
            "config_id": bundle.config_id,
            "manifest_url": manifest,
            "rows": bundle.rows,
            "columns": len(bundle.stats),
            "window_rows": bundle.first_window.num_rows,
            "meta": codec.encode(bundle.meta),
            "config": codec.encode(bundle.config.to_dict()),
            "schema": [{"name": f.name, "type": str(f.type)} for f in bundle.schema],
            "stats": codec.encode(bundle.stats),
        }
        if rows:
            payload["window"] = {"columns": codec.encode(labels), "rows": codec.encode(window)}
        _print_json(payload)
        return EXIT_OK
    meta = bundle.meta
    producer = meta.get("producer") or {}
    seconds = meta.get("build_seconds")
    print(_fields([
        ("data_id", bundle.data_id),
        ("config_id", bundle.config_id),
        ("rows", f"{bundle.rows:,}"),
        ("columns", f"{len(bundle.stats):,}"),
        ("window rows", f"{bundle.first_window.num_rows:,} stored"),
        ("build seconds", "-" if seconds is None else f"{seconds:.3f}"),
        ("source kind", str(meta.get("source_kind", "-"))),
        ("producer", ", ".join(f"{k} {v}" for k, v in producer.items()) or "-"),
        ("manifest", manifest),
    ]))
    print()
    headers = ["COLUMN", *(s.upper() for s in _SHOWN_STATS)]
    stat_rows = [
        [cell(entry.get("orig_col_name")), *(_stat_cell(entry, s) for s in _SHOWN_STATS)]
        for entry in bundle.stats.values()
    ]
    print(table(headers, stat_rows, right=(2, 3, 6)))
    if rows:
        print()
        print(table([cell(label) for label in labels], [[cell(v) for v in r] for r in window]))
        missing = bundle.missing_rows(0, rows)
        if missing:
            print(
                f"(rows {missing.start}..{missing.stop - 1} lie past the stored window of "
                f"{bundle.first_window.num_rows:,}; read them from the source)"
            )
    return EXIT_OK


def _cmd_verify(ctx: _Context) -> int:
    """Re-read every bundle; exit 1 when any is damaged, so cron and CI notice."""
    args = ctx.args
    store = ctx.store()
    report = store.verify() if args.grace is None else store.verify(grace=args.grace)
    if args.json:
        _print_json({
            "store": ctx.redact(store.url),
            "ok": report.ok,
            "checked": report.checked,
            "damaged": [
                {"data_id": d.data_id, "config_id": d.config_id, "path": d.path,
                 "reason": ctx.redact(d.reason)}
                for d in report.damaged
            ],
            "leftovers": list(report.orphans),
        })
        return EXIT_OK if report.ok else EXIT_FAILED
    for damage in report.damaged:
        name = f"{damage.data_id} {damage.config_id}" if damage.data_id else damage.path
        # Bundle damage names its folder in the reason; a dangling pointer's does not.
        detail = damage.reason
        if damage.path not in detail:
            detail = f"{damage.path}: {detail}"
        print(f"DAMAGED   {name}")
        print(f"          {ctx.redact(detail)}")
    for path in report.orphans:
        print(f"LEFTOVER  {path}")
    summary = (
        f"checked {_plural(report.checked, 'bundle')}: {len(report.damaged)} damaged, "
        f"{_plural(len(report.orphans), 'leftover file')}"
    )
    if report.orphans:
        summary += " (gc removes leftovers)"
    print(summary)
    return EXIT_OK if report.ok else EXIT_FAILED


def _cmd_gc(ctx: _Context) -> int:
    """Remove old bundles and leftovers; what a dataset pointer names is always kept."""
    args = ctx.args
    if args.keep_latest is None and args.older_than is None:
        raise UsageError("give --keep-latest N and/or --older-than DURATION")
    store = ctx.store()
    kwargs: dict[str, Any] = {"keep_latest": args.keep_latest, "older_than": args.older_than}
    if args.grace is not None:
        kwargs["grace"] = args.grace
    report = store.gc(dry_run=args.dry_run, **kwargs)
    freed = sum(e.bytes for e in report.removed)
    if args.json:
        _print_json({
            "dry_run": report.dry_run,
            "removed": [e.to_json() for e in report.removed],
            "removed_files": list(report.removed_files),
            "kept": report.kept,
            "bytes": freed,
        })
        return EXIT_OK
    verb = "would remove" if args.dry_run else "removed"
    if report.removed:
        print(f"{verb}:")
        print(_entries_table(report.removed, pinned=False))
    for path in report.removed_files:
        print(f"{verb} leftover {path}")
    prefix = "dry run, nothing removed: " if args.dry_run else ""
    print(
        f"{prefix}{verb} {_plural(len(report.removed), 'bundle')} ({human_size(freed)}) and "
        f"{_plural(len(report.removed_files), 'leftover file')}; {report.kept} kept"
    )
    return EXIT_OK


def _cmd_build(ctx: _Context) -> int:
    """Build one bundle from a file or URL and publish it, for backfills and smoke tests."""
    args = ctx.args
    store = ctx.store()  # before the build, so a missing store fails in milliseconds
    from .build import build_bundle
    from .config import StatsConfig

    config = StatsConfig()
    if args.window_rows is not None:
        config = config.replace(window_rows=args.window_rows)
    started = time.perf_counter()
    bundle = build_bundle(
        args.source, data_id=args.data_id, config=config,
        storage_options=ctx.source_options or None,
    )
    built = time.perf_counter()
    entry = store.put(bundle, dataset=args.dataset)
    finished = time.perf_counter()
    manifest = ctx.redact(store.manifest_url(bundle.data_id, bundle.config_id))
    if args.json:
        _print_json({
            **entry.to_json(),
            "build_seconds": round(built - started, 6),
            "publish_seconds": round(finished - built, 6),
            "seconds": round(finished - started, 6),
            "manifest_url": manifest,
        })
        return EXIT_OK
    print(_fields([
        ("data_id", bundle.data_id),
        ("config_id", bundle.config_id),
        ("dataset", args.dataset or "-"),
        ("rows", f"{bundle.rows:,}"),
        ("columns", f"{len(bundle.stats):,}"),
        ("size", human_size(entry.bytes)),
        ("seconds", f"{finished - started:.3f} (build {built - started:.3f}, "
                    f"publish {finished - built:.3f})"),
        ("manifest", manifest),
    ]))
    return EXIT_OK


# ---------------------------------------------------------------- parser


def _cmd_html(ctx: _Context) -> int:
    """Write one bundle's viewer page, self-contained, so it opens from disk or mail."""
    args = ctx.args
    _, bundle = _requested_bundle(ctx)
    output = args.output or f"{args.dataset or bundle.data_id}.html"
    path = bundle.to_html(output, args.embed, title=args.dataset or bundle.data_id)
    if args.json:
        _print_json({"data_id": bundle.data_id, "config_id": bundle.config_id, "path": str(path)})
    else:
        print(f"wrote {path} ({human_size(path.stat().st_size)})")
    return EXIT_OK


def _cmd_serve(ctx: _Context) -> int:
    """Serve the store read-only until interrupted."""
    args = ctx.args
    from .server import BundleServer

    server = BundleServer(ctx.store(), args.host, args.port, workers=args.workers)
    print(f"serving {ctx.redact(server.store.url)} at {server.url}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return EXIT_OK


def _store_arguments(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``--store`` / ``--storage-option``, accepted before or after the subcommand."""
    prefix = "global_" if top else ""
    group = parser.add_argument_group("store")
    group.add_argument(
        "--store", dest=f"{prefix}store", metavar="URL",
        help=f"store root: any fsspec URL or local path (default: ${STORE_ENV})",
    )
    group.add_argument(
        "--storage-option", dest=f"{prefix}storage_options", metavar="KEY=VALUE",
        action="append", type=_option, default=[],
        help="fsspec option for the store, repeatable; VALUE is parsed as JSON when it can be, "
             "dotted keys nest (client_kwargs.endpoint_url=http://...); never printed",
    )


def _bundle_arguments(parser: argparse.ArgumentParser) -> None:
    """DATA_ID or --dataset, and --config-id: which bundle ``_requested_bundle`` loads."""
    parser.add_argument("data_id", nargs="?", type=_data_id, metavar="DATA_ID")
    parser.add_argument("--dataset", type=_dataset, metavar="NAME",
                        help="the latest bundle of this dataset instead of a DATA_ID")
    parser.add_argument("--config-id", type=_config_id, metavar="ID",
                        help="the bundle built with this config (a unique prefix will do); "
                             "default: the one published last")


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


Command = Callable[[_Context], int]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every subcommand and its arguments."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect, verify, garbage-collect, build, view and serve buckaroo-assets bundles.",
        epilog="exit codes: 0 success, 1 runtime failure (missing/damaged bundle, "
               "unreadable source), 2 usage error",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of a runtime error"
    )
    _store_arguments(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        _store_arguments(sub, top=False)
        sub.set_defaults(run=run, command_parser=sub)
        return sub

    ls = add("ls", _cmd_ls, "list stored bundles")
    ls.add_argument("--dataset", type=_dataset, metavar="NAME", help="only bundles of this dataset")
    _json_flag(ls)

    show = add("show", _cmd_show, "show one bundle's meta and column stats")
    _bundle_arguments(show)
    show.add_argument("--rows", type=_count, metavar="N", help="also print the first N rows")
    _json_flag(show)

    verify = add("verify", _cmd_verify, "re-check every bundle; exit 1 if any is damaged")
    verify.add_argument("--grace", type=parse_duration, metavar="DURATION",
                        help="report leftover files only when older than this (default 1h)")
    _json_flag(verify)

    gc = add("gc", _cmd_gc, "remove old bundles and leftover files")
    gc.add_argument("--keep-latest", type=_count, metavar="N",
                    help="keep the N newest bundles of each dataset; bundles published "
                         "without a dataset are left alone (only --older-than on its own "
                         "removes them)")
    gc.add_argument("--older-than", type=parse_duration, metavar="DURATION",
                    help="remove only bundles created longer ago than this (30m, 12h, 7d, 2w)")
    gc.add_argument("--grace", type=parse_duration, metavar="DURATION",
                    help="remove leftover files only when older than this (default 1h)")
    gc.add_argument("--dry-run", action="store_true",
                    help="print what would be removed, remove nothing")
    _json_flag(gc)

    build = add("build", _cmd_build, "build a bundle from a file or URL and publish it")
    build.add_argument("source", metavar="SOURCE",
                       help="Parquet/CSV/JSON-lines file, Parquet folder, or fsspec URL")
    build.add_argument("--data-id", type=_data_id, metavar="ID",
                       help="default: the content fingerprint of SOURCE")
    build.add_argument("--dataset", type=_dataset, metavar="NAME",
                       help="also point this dataset's 'latest' at the new bundle")
    build.add_argument("--window-rows", type=_count, metavar="N",
                       help="rows of the first window stored in the bundle (default 1000)")
    build.add_argument("--source-option", dest="source_options", metavar="KEY=VALUE",
                       action="append", type=_option, default=[],
                       help="fsspec option for reading SOURCE, like --storage-option")
    _json_flag(build)

    page = add("html", _cmd_html, "write a bundle's Buckaroo viewer page as one HTML file")
    _bundle_arguments(page)
    page.add_argument("-o", "--output", metavar="PATH",
                      help="where to write the page (default: <dataset or data_id>.html)")
    page.add_argument("--embed", choices=("DFViewer", "Buckaroo"), default="DFViewer",
                      help="plain table with pinned stats, or Buckaroo's view switcher")
    _json_flag(page)

    serve = add("serve", _cmd_serve, "serve the store's bundles read-only over HTTP")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=_count, default=8765, help="port (default 8765; 0 picks one)")
    serve.add_argument("--workers", type=_positive, default=8, metavar="N",
                       help="requests handled at once; more wait in the queue (default 8)")
    return parser


# ---------------------------------------------------------------- main


def _describe(exc: BaseException) -> str:
    """One line for stderr: our own messages as they are, others prefixed with their type."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.strerror}: {os.fsdecode(exc.filename)}"
    elif isinstance(exc, BuckarooAssetsError | OSError):
        text = str(exc) or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_USAGE


def _quiet_stdout() -> None:
    """After the reader of our stdout went away (``| head``), drop the rest of the output."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _usage_error(args: argparse.Namespace, message: str) -> int:
    """Report like argparse does (usage line, then ``prog cmd: error: ...``) and exit 2."""
    command_parser: argparse.ArgumentParser = args.command_parser
    command_parser.print_usage(sys.stderr)
    print(f"{command_parser.prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run(argv: Sequence[str] | None) -> int:
    """Parse, dispatch, and turn every failure into its exit code and one stderr line."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")  # odd column names must not crash a listing
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or argparse's usage error (already printed)
        return _exit_code(stop.code)
    try:
        ctx = _Context(args)
    except UsageError as exc:  # conflicting --storage-option keys
        return _usage_error(args, str(exc))
    try:
        return args.run(ctx)
    except UsageError as exc:
        return _usage_error(args, ctx.redact(str(exc)))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_FAILED
    except Exception as exc:
        if args.traceback:
            raise
        print(f"error: {ctx.redact(_describe(exc))}", file=sys.stderr)
        return EXIT_FAILED


def _exit_now(code: int) -> NoReturn:
    """Flush what we printed, then end the process without interpreter teardown."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code (0 ok, 1 runtime failure, 2 usage error).

    With ``argv=None`` (the console script, ``python -m buckaroo_assets.cli``)
    this process *is* the command: output is flushed and the process ends at
    once with that code.  pyarrow's native thread pools now and then abort
    interpreter teardown (SIGABRT, "terminate called without an active
    exception", apache/arrow#34314; about 1 run in 150 here), and a cron job
    must see the code we chose, not 134.  Pass ``argv`` to get a plain return.
    """
    code = _run(argv)
    if argv is None:
        _exit_now(code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
