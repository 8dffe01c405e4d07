"""``build``: one bundle from a file or URL, published, for backfills and smoke tests."""

from __future__ import annotations

import time

from ..units import human_size
from .arguments import data_id_arg, dataset_arg, json_flag, option_pair, whole_number
from .context import EXIT_OK, AddCommand, Context
from .output import fields, print_json


def run_build(ctx: Context) -> int:
    """Build one bundle from a file or URL and publish it, for backfills and smoke tests."""
    args = ctx.args
    store = ctx.store()  # before the build, so a missing store fails in milliseconds
    from ..build.builder import build_bundle
    from ..bundle.config import StatsConfig

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
        print_json({
            **entry.to_json(),
            "build_seconds": round(built - started, 6),
            "publish_seconds": round(finished - built, 6),
            "seconds": round(finished - started, 6),
            "manifest_url": manifest,
        })
        return EXIT_OK
    print(fields([
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


def register(add: AddCommand) -> None:
    build = add("build", run_build, "build a bundle from a file or URL and publish it")
    build.add_argument("source", metavar="SOURCE",
                       help="Parquet/CSV/JSON-lines file, Parquet folder, or fsspec URL")
    build.add_argument("--data-id", type=data_id_arg, metavar="ID",
                       help="default: the content fingerprint of SOURCE")
    build.add_argument("--dataset", type=dataset_arg, metavar="NAME",
                       help="also point this dataset's 'latest' at the new bundle")
    build.add_argument("--window-rows", type=whole_number, metavar="N",
                       help="rows of the first window stored in the bundle (default 1000)")
    build.add_argument("--source-option", dest="source_options", metavar="KEY=VALUE",
                       action="append", type=option_pair, default=[],
                       help="fsspec option for reading SOURCE, like --storage-option")
    json_flag(build)

