"""``diff``: what changed between two versions of a dataset, from their bundles alone.

``diff OLD NEW`` compares two data_ids (each under the config published last
for it); ``diff --dataset NAME`` compares a dataset's latest version with the
one before (see ``previous_and_latest``).  ``--fail-on CHECK[=LIMIT]``
(repeatable) turns drift into exit code 1 for CI and cron: ``rows-drop``,
``null-jump``, ``distance`` (each with the default limit of
``DriftThresholds`` unless one is given) and ``schema``.  Without
``--fail-on`` the command reports and exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ..changes.thresholds import DriftThresholds
from .arguments import UsageError, data_id_arg, dataset_arg, json_flag
from .context import EXIT_FAILED, EXIT_OK, AddCommand, Context
from .output import print_json

# --fail-on names and the DriftThresholds field each one sets.
_CHECKS = {
    "rows-drop": "rows_drop_pct",
    "null-jump": "null_jump_pts",
    "distance": "distance",
    "schema": "schema_change",
}


def fail_on_arg(text: str) -> tuple[str, Any]:
    """``CHECK`` or ``CHECK=LIMIT`` as (DriftThresholds field, limit); bad ones exit 2."""
    name, sep, raw = text.partition("=")
    field = _CHECKS.get(name.strip())
    if field is None:
        raise argparse.ArgumentTypeError(
            f"unknown check {name!r}: use rows-drop[=PCT], null-jump[=POINTS], distance[=D] or schema"
        )
    if field == "schema_change":
        if sep:
            raise argparse.ArgumentTypeError("schema takes no limit: any schema change fails")
        return field, True
    if not sep:
        return field, getattr(DriftThresholds(), field)
    try:
        limit = float(raw)
        DriftThresholds.only(**{field: limit})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{name}: {exc}") from None
    return field, limit


def run_diff(ctx: Context) -> int:
    """Compare two versions; exit 1 when a ``--fail-on`` limit is crossed."""
    args = ctx.args
    given = [i for i in (args.old, args.new) if i is not None]
    if args.dataset is not None and given:
        raise UsageError("give OLD NEW data_ids or --dataset NAME, not both")
    if args.dataset is None and len(given) != 2:
        raise UsageError("give two data_ids, OLD and NEW, or --dataset NAME")
    store = ctx.store()
    from ..changes.compare import diff
    from ..changes.history import previous_and_latest
    from ..reader.load import load_bundle

    if args.dataset is not None:
        keys = previous_and_latest(store, args.dataset)
        result = diff(*(load_bundle(data_id, store=store, config=c) for data_id, c in keys))
    else:
        result = diff(args.old, args.new, store=store)
    thresholds = DriftThresholds.only(**dict(args.fail_on))
    crossings = thresholds.crossed(result) if args.fail_on else []
    if args.html:
        Path(args.html).write_text(result.to_html(crossings), encoding="utf-8")
    if args.json:
        print_json({
            **result.to_json(),
            "thresholds": dataclasses.asdict(thresholds) if args.fail_on else None,
            "crossed": [c.to_json() for c in crossings],
        })
    else:
        print(result.to_text(crossings))
    return EXIT_FAILED if crossings else EXIT_OK


def register(add: AddCommand) -> None:
    defaults = DriftThresholds()
    command = add("diff", run_diff, "what changed between two versions, from their bundles alone")
    command.add_argument("old", nargs="?", type=data_id_arg, metavar="OLD",
                         help="data_id of the old version")
    command.add_argument("new", nargs="?", type=data_id_arg, metavar="NEW",
                         help="data_id of the new version")
    command.add_argument("--dataset", type=dataset_arg, metavar="NAME",
                         help="compare the dataset's latest version with the one before")
    command.add_argument(
        "--fail-on", type=fail_on_arg, action="append", default=[], metavar="CHECK[=LIMIT]",
        help=f"exit 1 when crossed, repeatable: rows-drop[=PCT] (default "
             f"{defaults.rows_drop_pct:g}), null-jump[=POINTS] ({defaults.null_jump_pts:g}), "
             f"distance[=D] ({defaults.distance:g}), schema",
    )  # fmt: skip
    command.add_argument("--html", metavar="PATH", help="also write the diff as an HTML page")
    json_flag(command)
