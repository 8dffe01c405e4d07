"""Buckaroo's static-embed artifact, built from a stored bundle alone.

Buckaroo's viewer (``static-embed.js``) renders an *artifact*: the rows as
base64 Parquet, the summary stats as one wide Parquet row of
``<column key>__<stat>`` cells, and a ``df_viewer_config`` that says which stat
rows are pinned and how each column is displayed.  Buckaroo builds it by
running its pandas pipeline over the data; here it comes from the bundle's
exact stats and first window, so opening a dataset of any size costs the same
and needs neither the data nor pandas.

Display knobs (pinned rows, column overrides, formatting) only shape the
artifact: they never touch the bundle, its config_id or the data.
"""

from __future__ import annotations

from typing import Any

from ..bundle.model import Bundle
from .column_config import SUMMARY_ROWS, pinned_rows, stat_rows, viewer_config
from .display import Display
from .payloads import WIRE_ORDER, json_safe, stats_payload, window_payload

__all__ = ["EMBED_TYPES", "SUMMARY_ROWS", "Display", "buckaroo_artifact", "json_safe"]

EMBED_TYPES = ("DFViewer", "Buckaroo")
_MAIN_ROWS = ("dtype", "histogram")


def buckaroo_artifact(
    bundle: Bundle, embed_type: str = "DFViewer", display: Display | None = None
) -> dict[str, Any]:
    """The artifact Buckaroo's ``static-embed.js`` renders, for ``embed_type`` DFViewer or Buckaroo."""
    if embed_type not in EMBED_TYPES:
        raise ValueError(f"embed_type must be 'DFViewer' or 'Buckaroo', got {embed_type!r}")
    display = display or Display()
    pinned = pinned_rows(display, bundle)
    window = bundle.first_window
    if display.rows is not None:
        window = window.slice(0, display.rows)
    df_data = window_payload(bundle, window, display)
    # Like Buckaroo, the stats of every view ride along, whichever is shown first.
    extra = {row["primary_key_val"].lstrip("?") for row in pinned} - set(WIRE_ORDER)
    summary_stats = stats_payload(bundle, [*WIRE_ORDER, *sorted(extra)])
    config = viewer_config(bundle, pinned, display)
    artifact: dict[str, Any] = {
        "embed_type": embed_type,
        "df_data": df_data,
        "df_viewer_config": config,
        "summary_stats_data": summary_stats,
    }
    if embed_type == "Buckaroo":
        summary = viewer_config(bundle, stat_rows(SUMMARY_ROWS), display)
        main = viewer_config(bundle, stat_rows(_MAIN_ROWS), display)
        artifact["df_display_args"] = {
            "main": {"data_key": "main", "df_viewer_config": main, "summary_stats_key": "all_stats"},
            "summary": {
                "data_key": "empty", "df_viewer_config": summary, "summary_stats_key": "all_stats",
            },
            "dfviewer_special": {
                "data_key": "empty", "df_viewer_config": config,
                "summary_stats_key": "all_stats",
            },
        }  # fmt: skip
        artifact["df_data_dict"] = {"main": df_data, "all_stats": summary_stats, "empty": []}
        artifact["df_meta"] = {
            "columns": len(bundle.stats),
            "filtered_rows": bundle.rows,
            "rows_shown": window.num_rows,
            "total_rows": bundle.rows,
        }
        artifact["buckaroo_options"] = {  # the display switcher; nothing else runs statically
            "sampled": [""],
            "auto_clean": [""],
            "post_processing": [""],
            "df_display": ["main", "summary", "dfviewer_special"],
            "show_commands": [""],
            "summary_stats": ["all"],
            "cleaning_method": [""],
        }
        artifact["buckaroo_state"] = {
            "cleaning_method": "",
            "post_processing": "",
            "sampled": False,
            "show_commands": False,
            "df_display": "main",
            "search_string": "",
            "quick_command_args": {},
        }
    return artifact
