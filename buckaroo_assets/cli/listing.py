"""``ls`` and ``show``: what a store holds, and one bundle read the way an app reads it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..units import human_size, text_of
from .arguments import bundle_arguments, dataset_arg, json_flag, whole_number
from .context import EXIT_OK, AddCommand, Context, requested_bundle
from .output import cell, entries_table, fields, plural, print_json, table

if TYPE_CHECKING:
    from ..bundle.model import Bundle


def run_ls(ctx: Context) -> int:
    """Every published bundle (of one dataset), oldest first, with the dataset pointers that pin it.

    Lists names and reads pointers: no bundle's manifest (see ``BundleStore.list``).
    """
    args = ctx.args
    store = ctx.store()
    entries = store.list(dataset=args.dataset)
    if args.json:
        print_json({"store": ctx.redact(store.url), "bundles": [e.to_json() for e in entries]})
        return EXIT_OK
    if not entries:
        print(f"no bundles in {ctx.redact(store.url)}")
        return EXIT_OK
    print(entries_table(entries))
    total = sum(e.bytes for e in entries)
    print(f"\n{plural(len(entries), 'bundle')}, {human_size(total)}")
    return EXIT_OK


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
    columns = [_python_values(window.column(i)) for i in range(window.num_columns)]
    return labels, [list(row) for row in zip(*columns, strict=True)]


def _python_values(column: Any) -> list[Any]:
    """Python values of a column; Arrow's text where they lie beyond Python's datetime."""
    try:
        return column.to_pylist()
    except (OverflowError, ValueError):
        return [text_of(value) if value.is_valid else None for value in column]


def run_show(ctx: Context) -> int:
    """Meta and per-column stats of one bundle, read through ``load_bundle`` like an app would."""
    args = ctx.args
    store, bundle = requested_bundle(ctx)
    manifest = ctx.redact(store.manifest_url(bundle.data_id, bundle.config_id))
    rows = args.rows or 0
    labels, window = _window_rows(bundle, rows) if rows else ([], [])
    if args.json:
        from ..bundle import codec

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
        print_json(payload)
        return EXIT_OK
    meta = bundle.meta
    producer = meta.get("producer") or {}
    seconds = meta.get("build_seconds")
    print(fields([
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


def register(add: AddCommand) -> None:
    ls = add("ls", run_ls, "list stored bundles")
    ls.add_argument("--dataset", type=dataset_arg, metavar="NAME", help="only bundles of this dataset")
    json_flag(ls)

    show = add("show", run_show, "show one bundle's meta and column stats")
    bundle_arguments(show)
    show.add_argument("--rows", type=whole_number, metavar="N", help="also print the first N rows")
    json_flag(show)

