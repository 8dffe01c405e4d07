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
.ba-header .ba-building { color: #7a3e00; background: #fff3cd; padding: 0 6px; border-radius: 3px; }
"""


def _when(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def page_header(bundle: Bundle, rows_shown: int) -> str:
    """The header's HTML (escaped): dataset, data_id, rows shown of total, build, estimates.

    A partial bundle (a build in progress) says so first: its rows are real, its stats not there yet.
    """
    total = bundle.rows
    if bundle.partial and "rows" not in bundle.meta:
        rows = f"first {human_number(rows_shown)} rows (total not known yet)"
    elif rows_shown >= total:
        rows = f"all {human_number(total)} rows"
    else:
        rows = f"first {human_number(rows_shown)} of {human_number(total)} rows"
    parts = [
        f'<span class="ba-dataset">{html.escape(bundle.dataset or "bundle")}</span>',
        f'<span>version <code class="ba-data-id">{html.escape(bundle.data_id)}</code></span>',
        f'<span class="ba-rows">{rows}</span>',
        f"<span>{human_number(len(bundle.stats))} columns</span>",
    ]
    if bundle.partial:
        started = bundle.meta.get("started_at")
        since = f" (build started {_when(_dt.datetime.fromisoformat(started))})" if started else ""
        parts.insert(0, '<span class="ba-building" role="status">building: stats not ready yet; '
                        f"rows shown from the partial window{since}</span>")
        return f'<header class="ba-header ba-partial">{"".join(parts)}</header>'
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
