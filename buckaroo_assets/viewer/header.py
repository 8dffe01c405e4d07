"""The line above the grid: which dataset and version, how much of it is shown, what is estimated.

Buckaroo's grid says none of this, and a static page is often opened long
after, and far from, the build that made it.
"""

from __future__ import annotations

import datetime as _dt
import html

from ..bundle.model import Bundle
from ..units import human_number

__all__ = ["HEADER_CSS", "page_header"]

HEADER_CSS = """
.ba-header { font: 13px/1.5 system-ui, sans-serif; padding: 6px 12px; border-bottom: 1px solid #ccc;
  display: flex; flex-wrap: wrap; gap: 4px 18px; align-items: baseline; }
.ba-header .ba-dataset { font-weight: 600; font-size: 15px; }
.ba-header code { font-size: 12px; }
.ba-header .ba-approx { color: #8a5a00; }
"""


def _when(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def page_header(bundle: Bundle, rows_shown: int) -> str:
    """The header's HTML (escaped): dataset, data_id, rows shown of total, build, estimates."""
    total = bundle.rows
    rows = (
        f"all {human_number(total)} rows"
        if rows_shown >= total
        else f"first {human_number(rows_shown)} of {human_number(total)} rows"
    )
    parts = [
        f'<span class="ba-dataset">{html.escape(bundle.dataset or "bundle")}</span>',
        f'<span>version <code class="ba-data-id">{html.escape(bundle.data_id)}</code></span>',
        f'<span class="ba-rows">{rows}</span>',
        f"<span>{human_number(len(bundle.stats))} columns</span>",
    ]
    built = []
    if bundle.created_at is not None:
        built.append(f"built {_when(bundle.created_at)}")
    seconds = bundle.meta.get("build_seconds")
    if isinstance(seconds, int | float):
        built.append(f"in {human_number(float(seconds))} s")
    if built:
        parts.append(f'<span class="ba-built">{" ".join(built)}</span>')
    approximate = [
        str(entry["orig_col_name"]) for entry in bundle.stats.values() if entry.get("approximate")
    ]
    if approximate:
        listed = ", ".join(approximate[:8]) + (f" and {len(approximate) - 8} more" if len(approximate) > 8 else "")
        parts.append(
            f'<span class="ba-approx" title="{html.escape(", ".join(approximate), quote=True)}">'
            f"estimated (sketched) stats: {html.escape(listed)}</span>"
        )
    else:
        parts.append('<span class="ba-exact">all stats exact</span>')
    return f'<header class="ba-header">{"".join(parts)}</header>'
