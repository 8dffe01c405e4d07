"""A diff for people: the same sections as a text table for terminals and as an HTML page.

Each part of a diff becomes a :class:`Section` (a title, headers, rows of
text cells); :func:`as_text` pads them into columns and :func:`as_html`
writes a standalone page — inline CSS, no JavaScript, every cell escaped.
Only what changed is listed; values from sketched stats are marked ``~``.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..units import text_of
from .model import ColumnDiff, Crossing, RowChange, SchemaDiff, SettingChange, StatChange, Version

__all__ = [
    "Section",
    "as_html",
    "as_text",
    "columns_section",
    "crossings_section",
    "not_compared_section",
    "schema_section",
    "settings_section",
    "summary_section",
]

CELL_WIDTH = 40  # longest cell shown before it is cut
APPROXIMATE = "~"
_STAT_NAMES = {"null_pct": "null %", "distinct_count": "distinct"}


@dataclass(frozen=True)
class Section:
    """A titled table of text cells; a section without headers is a list of (name, value)."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def summary_section(old: Version, new: Version, rows: RowChange, changes: str) -> Section:
    """Which two bundles, how many rows each has, and in a few words what changed."""
    pct = rows.pct_change
    change = f"{_number(rows.old)} -> {_number(rows.new)} ({_signed(rows.delta)}"
    change += ")" if pct is None else f", {pct:+.3g} %)"
    return Section("", (), (
        ("old", f"{old.data_id}  config {old.config_id[:8]}  {_number(old.columns)} columns"),
        ("new", f"{new.data_id}  config {new.config_id[:8]}  {_number(new.columns)} columns"),
        ("rows", change if rows.delta else f"{_number(rows.new)} (unchanged)"),
        ("changes", changes),
    ))  # fmt: skip


def schema_section(schema: SchemaDiff) -> Section:
    """One row per column added, removed, retyped or renamed, and one if they moved."""
    rows = [("added", label(c.name), f"{c.dtype} at position {c.position}") for c in schema.added]
    rows += [("removed", label(c.name), f"{c.dtype}, was at position {c.position}")
             for c in schema.removed]
    rows += [("retyped", label(r.name), _retype(r.old_dtype, r.new_dtype, r.old_arrow_type,
                                                r.new_arrow_type)) for r in schema.retyped]
    rows += [("renamed", label(r.new_name), f"was {label(r.old_name)} ({r.dtype}, position "
              f"{r.position})") for r in schema.renamed]
    if schema.reordered:
        rows.append(("reordered", "-", "the columns both versions have are in another order"))
    return Section("schema changes", ("CHANGE", "COLUMN", "DETAIL"), tuple(rows))


def columns_section(columns: Sequence[ColumnDiff]) -> Section:
    """One row per changed stat of every column, then top values and distance."""
    rows: list[tuple[str, ...]] = []
    for column in columns:
        name = label(column.name)
        for stat, change in column.stat_changes():
            if change.changed:
                rows.append((name, _mark(_STAT_NAMES.get(stat, stat), change.exact),
                             cell(change.old), cell(change.new), _change_text(stat, change)))
        top = column.top_values
        if top is not None and top.changed:
            moved = f"new: {_values(top.new)}; vanished: {_values(top.vanished)}"
            rows.append((name, _mark("top values", top.exact), "", "", moved))
        distance = column.distance
        if distance is not None and distance.changed:
            rows.append((name, _mark("distance", distance.exact), "", "",
                         f"{distance.value:.3f} ({distance.basis})"))
    sketched = any(row[1].startswith(APPROXIMATE) for row in rows)
    note = f"{APPROXIMATE} marks values from sketched stats" if sketched else ""
    return Section("column changes", ("COLUMN", "STAT", "OLD", "NEW", "CHANGE"), tuple(rows), note)


def not_compared_section(columns: Sequence[ColumnDiff]) -> Section:
    """What one version holds and the other lacks, so silence is never mistaken for "same"."""
    rows = tuple(
        (label(c.name), _STAT_NAMES.get(n.stat, n.stat), n.reason)
        for c in columns for n in c.not_compared
    )
    return Section("not compared", ("COLUMN", "STAT", "REASON"), rows)


def settings_section(settings: Sequence[SettingChange]) -> Section:
    """Config settings that differ: they explain changes the data did not make."""
    rows = tuple((s.name, cell(s.old), cell(s.new)) for s in settings)
    return Section("stats settings that differ", ("SETTING", "OLD", "NEW"), rows)


def crossings_section(crossings: Sequence[Crossing]) -> Section:
    """The thresholds crossed, as given by the caller."""
    rows = tuple((c.check, _mark(c.message, c.exact)) for c in crossings)
    return Section("thresholds crossed", ("CHECK", "MESSAGE"), rows)


def as_text(sections: Iterable[Section]) -> str:
    """Sections padded into columns, blank lines between; sections without rows left out."""
    return "\n\n".join(_text_block(s) for s in sections if s.rows)


def as_html(title: str, sections: Iterable[Section]) -> str:
    """A standalone page: inline CSS, no scripts, every cell escaped."""
    body: list[str] = []
    for section in sections:
        if not section.rows:
            continue
        if section.title:
            body.append(f"<h2>{html.escape(section.title)}</h2>")
        body.append(_html_table(section))
        if section.note:
            body.append(f'<p class="note">{html.escape(section.note)}</p>')
    return _PAGE.format(title=html.escape(title), body="\n".join(body))


def label(name: Hashable) -> str:
    """A column label as one cell: text as it is, other labels (ints, tuples) as Python shows them."""
    return cell(name if isinstance(name, str) else repr(name))


def cell(value: Any) -> str:
    """One value as a short, printable, single-line cell."""
    if value is None:
        text = "-"
    elif isinstance(value, str):
        text = (value if value.isprintable() else repr(value)[1:-1]) or '""'
    elif isinstance(value, list | tuple):
        text = ", ".join(cell(v) for v in value) or "-"
    else:
        text = _number(value)
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 3] + "..."


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    text = text_of(value)
    return text if text.isprintable() else repr(text)[1:-1]


def _signed(delta: Any) -> str:
    if isinstance(delta, bool) or delta is None:
        return "changed"
    if isinstance(delta, int):
        return f"{delta:+,}"
    if isinstance(delta, float):
        return f"{delta:+.4g}"
    if isinstance(delta, Decimal):
        return f"{delta:+}"
    if isinstance(delta, _dt.timedelta):
        return f"-{-delta}" if delta < _dt.timedelta(0) else f"+{delta}"
    return cell(delta)


def _change_text(stat: str, change: StatChange) -> str:
    text = _signed(change.delta)
    if stat == "null_pct":
        text += " points"
    if change.in_std is not None:
        text += f" ({change.in_std:+.3g} sd)"
    return text


def _values(values: Sequence[Any]) -> str:
    return ", ".join(repr(v) if isinstance(v, str) else _number(v) for v in values) or "-"


def _retype(old: str, new: str, old_arrow: str, new_arrow: str) -> str:
    text = f"{old} -> {new}"
    return text if old_arrow == new_arrow else f"{text} (Arrow {old_arrow} -> {new_arrow})"


def _mark(text: str, exact: bool) -> str:
    return text if exact else f"{APPROXIMATE}{text}"


def _text_block(section: Section) -> str:
    lines = [section.title] if section.title else []
    headers = [section.headers] if section.headers else []
    grid = [list(row) for row in [*headers, *section.rows]]
    widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))] if grid else []
    for row in grid:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if section.note:
        lines.append(section.note)
    return "\n".join(lines)


def _html_table(section: Section) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in section.headers)
    parts = [f"<table><thead><tr>{head}</tr></thead>" if head else "<table>", "<tbody>"]
    for row in section.rows:
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in row)
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left;
         font-variant-numeric: tabular-nums; }}
th {{ background: #f3f3f3; }}
.note {{ color: #666; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""
