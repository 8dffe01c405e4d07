"""``build``: one bundle from a file or URL, published, for backfills and smoke tests.

The stats configuration is the project's (see ``StatsConfig.from_project``)
with any ``--<setting>`` flag on top, so the CLI, Python, YAML and Dagster
give the same data the same config_id. A bundle already stored is reused
unless ``--force``. On a terminal the build draws a progress bar on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import Any

from ..bundle.config import StatsConfig
from ..units import human_size
from .arguments import UsageError, data_id_arg, dataset_arg, json_flag, option_pair, whole_number
from .context import EXIT_OK, AddCommand, Context
from .output import fields, print_json

# Settings that are not flags: the engine version is the code's, not the caller's.
_NOT_FLAGS = {"engine_version", "skip_columns"}


def run_build(ctx: Context) -> int:
    """Build one bundle from a file or URL and publish it, for backfills and smoke tests."""
    args = ctx.args
    store = ctx.store()  # before the build, so a missing store fails in milliseconds
    from ..build.builder import build_bundle
    from ..build.publish import ensure_bundle

    config = _config(args)
    bar = _ProgressBar(enabled=not args.json and not args.quiet and sys.stderr.isatty())
    started = time.perf_counter()
    options = ctx.source_options or None
    try:
        if args.force:
            bundle = build_bundle(
                args.source, data_id=args.data_id, config=config, storage_options=options,
                progress=bar.update,
            )
            entry, hit = store.put(bundle, dataset=args.dataset), False
        else:
            published = ensure_bundle(
                store, args.source, config=config, data_id=args.data_id, dataset=args.dataset,
                storage_options=options, progress=bar.update,
            )
            bundle, entry, hit = published.bundle, published.entry, published.hit
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    manifest = ctx.redact(store.manifest_url(bundle.data_id, bundle.config_id))
    if args.json:
        print_json({**entry.to_json(), "hit": hit, "seconds": round(seconds, 6), "manifest_url": manifest})
        return EXIT_OK
    print(fields([
        ("data_id", bundle.data_id),
        ("config_id", bundle.config_id),
        ("dataset", args.dataset or "-"),
        ("rows", f"{bundle.rows:,}"),
        ("columns", f"{len(bundle.stats):,}"),
        ("size", human_size(entry.bytes)),
        ("built", "no: already stored (--force rebuilds)" if hit else "yes"),
        ("seconds", f"{seconds:.3f}"),
        ("manifest", manifest),
    ]))
    return EXIT_OK


def _config(args: argparse.Namespace) -> StatsConfig:
    """The project's stats settings, with the command line's on top."""
    flags: dict[str, Any] = {
        name: getattr(args, name) for name in _setting_names() if getattr(args, name) is not None
    }
    if args.skip_columns:
        flags["skip_columns"] = args.skip_columns
    try:
        return StatsConfig.from_project(**flags)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(StatsConfig) if f.name not in _NOT_FLAGS]


class _ProgressBar:
    """Rows, rate and ETA on a terminal (tqdm); nothing when disabled."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def update(self, progress: Any) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=progress.rows_total, unit=" rows", unit_scale=True, file=sys.stderr,
                desc="building", leave=False,
            )
        self.bar.update(progress.rows_done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def register(add: AddCommand) -> None:
    build = add("build", run_build, "build a bundle from a file or URL and publish it")
    build.add_argument("source", metavar="SOURCE",
                       help="Parquet/CSV/JSON-lines file, Parquet folder, or fsspec URL")
    build.add_argument("--data-id", type=data_id_arg, metavar="ID",
                       help="default: the content fingerprint of SOURCE")
    build.add_argument("--dataset", type=dataset_arg, metavar="NAME",
                       help="also point this dataset's 'latest' at the new bundle")
    build.add_argument("--force", action="store_true",
                       help="build and publish even when the bundle is already stored")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.add_argument("--source-option", dest="source_options", metavar="KEY=VALUE",
                       action="append", type=option_pair, default=[],
                       help="fsspec option for reading SOURCE, like --storage-option")
    settings = build.add_argument_group(
        "stats settings", "override the project configuration's (defaults otherwise)"
    )
    defaults = StatsConfig()
    for name in _setting_names():
        settings.add_argument(f"--{name.replace('_', '-')}", type=whole_number, metavar="N",
                              help=f"StatsConfig.{name} (default {getattr(defaults, name):,})")
    settings.add_argument("--skip-column", dest="skip_columns", metavar="NAME", action="append",
                          default=[], help="a column whose stats are not computed, repeatable")
    json_flag(build)

