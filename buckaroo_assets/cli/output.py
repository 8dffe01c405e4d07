"""Tables and JSON as the CLI prints them: one line per row, printable, never too wide."""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..units import human_age, human_size, text_of

if TYPE_CHECKING:
    from ..store.entries import BundleEntry

SHORT_ID = 8  # config_id characters shown in tables; --json always has the full id
CELL_WIDTH = 32  # longest value shown in a table cell before it is cut


def when(moment: _dt.datetime) -> str:
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
        text = text_of(value)
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


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in pairs)


def print_json(obj: Any) -> None:
    # ASCII-only JSON is valid JSON on any terminal encoding.
    print(json.dumps(obj, indent=2, ensure_ascii=True, allow_nan=False))


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def short_label(label: str) -> str:
    """``dataset@<config_id>`` pointer labels with the config_id shortened as in CONFIG."""
    dataset, at, config_id = label.partition("@")
    return f"{dataset}@{config_id[:SHORT_ID]}" if at else label


def entries_table(entries: Sequence[BundleEntry], *, pinned: bool = True) -> str:
    now = _dt.datetime.now(_dt.UTC)
    headers = ["DATASET", "DATA_ID", "CONFIG", "ROWS", "COLS", "SIZE", "CREATED (UTC)", "AGE"]
    rows = []
    for e in entries:
        row = [
            e.dataset or "-", e.data_id, e.config_id[:SHORT_ID], f"{e.rows:,}", f"{e.columns:,}",
            human_size(e.bytes), when(e.created_at), human_age(now - e.created_at),
        ]
        if pinned:
            row.append(", ".join(short_label(p) for p in e.pinned_by) or "-")
        rows.append(row)
    if pinned:
        headers.append("PINNED BY")
    return table(headers, rows, right=(3, 4, 5, 7))
