"""``verify`` and ``gc``: the operator's checks and clean-up, with exit codes cron can read."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..units import human_size
from .arguments import UsageError, json_flag, parse_duration, whole_number
from .context import EXIT_FAILED, EXIT_OK, AddCommand, Context
from .output import entries_table, plural, print_json


def run_verify(ctx: Context) -> int:
    """Re-read every bundle; exit 1 when any is damaged, so cron and CI notice."""
    args = ctx.args
    store = ctx.store()
    report = store.verify() if args.grace is None else store.verify(grace=args.grace)
    if args.json:
        print_json({
            "store": ctx.redact(store.url),
            "ok": report.ok,
            "checked": report.checked,
            "damaged": [
                {"data_id": d.data_id, "config_id": d.config_id, "path": d.path,
                 "reason": ctx.redact(d.reason)}
                for d in report.damaged
            ],
            "leftovers": list(report.orphans),
            "building": [{**b.to_json(), "stale": b.stale} for b in report.building],
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
    for build in report.building:  # not bundles: their first rows, while the stats are computed
        state = "STALE   " if build.stale else "BUILDING"
        print(f"{state}  {build.data_id} {build.config_id} ({build.dataset or '-'}, "
              f"started {build.started_at.astimezone(_dt.UTC):%Y-%m-%d %H:%M:%S} UTC)")
    summary = (
        f"checked {plural(report.checked, 'bundle')}: {len(report.damaged)} damaged, "
        f"{plural(len(report.orphans), 'leftover file')}"
    )
    if report.building:
        summary += f", {plural(len(report.building), 'build')} in progress or stale"
    if report.orphans:
        summary += " (gc removes leftovers)"
    print(summary)
    return EXIT_OK if report.ok else EXIT_FAILED


def run_gc(ctx: Context) -> int:
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
        print_json({
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
        print(entries_table(report.removed, pinned=False))
    for path in report.removed_files:
        print(f"{verb} leftover {path}")
    prefix = "dry run, nothing removed: " if args.dry_run else ""
    print(
        f"{prefix}{verb} {plural(len(report.removed), 'bundle')} ({human_size(freed)}) and "
        f"{plural(len(report.removed_files), 'leftover file')}; {report.kept} kept"
    )
    return EXIT_OK


def register(add: AddCommand) -> None:
    verify = add("verify", run_verify, "re-check every bundle; exit 1 if any is damaged")
    verify.add_argument("--grace", type=parse_duration, metavar="DURATION",
                        help="report leftover files only when older than this (default 1h)")
    json_flag(verify)

    gc = add("gc", run_gc, "remove old bundles and leftover files")
    gc.add_argument("--keep-latest", type=whole_number, metavar="N",
                    help="keep the N newest bundles of each dataset; bundles published "
                         "without a dataset are left alone (only --older-than on its own "
                         "removes them)")
    gc.add_argument("--older-than", type=parse_duration, metavar="DURATION",
                    help="remove only bundles created longer ago than this (30m, 12h, 7d, 2w)")
    gc.add_argument("--grace", type=parse_duration, metavar="DURATION",
                    help="remove leftover files only when older than this (default 1h)")
    gc.add_argument("--dry-run", action="store_true",
                    help="print what would be removed, remove nothing")
    json_flag(gc)

