"""A Buckaroo viewer page: an artifact plus Buckaroo's ``static-embed.js`` and ``.css``.

The viewer code ships in the ``buckaroo`` package (the ``viewer`` extra); it
is located on disk without importing ``buckaroo``, whose import pulls in its
whole notebook stack.  A page either inlines both files (one HTML file that
opens from disk: browsers refuse ES modules from ``file://``) or links them
by URL (pages served over HTTP share one cached copy).
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from ..bundle.model import Bundle
from ..errors import ViewerUnavailable
from .artifact import buckaroo_artifact
from .display import Display
from .header import HEADER_CSS, page_header

__all__ = ["VIEWER_FILES", "bundle_page", "render_page", "viewer_file"]

VIEWER_FILES = ("static-embed.js", "static-embed.css")

# An inline <script>/<style> block ends at "</script" or "</style" followed by
# whitespace, "/" or ">", in any case; "<\/" keeps the code's meaning.
_CLOSING = {
    tag: re.compile(rf"</({tag})(?=[\t\n\f\r />])", re.IGNORECASE) for tag in ("script", "style")
}
# JSON inside <script type="application/json">: nothing in it may look like markup.
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JSON_UNSAFE = re.compile("[<>&\u2028\u2029]")
# Buckaroo's status bar offers search, cleaning and post-processing, which need its Python
# kernel; in a static page they would do nothing, so they are not shown.
_KERNEL_CONTROLS = ("search", "post_processing", "show_commands", "cleaning_method", "filtered_rows")
_STATIC_CSS = "".join(
    f'\n[col-id="{name}"] {{ display: none !important; }}' for name in _KERNEL_CONTROLS
)

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{refresh}
<title>{title}</title>
{css}
<style>html, body {{ margin: 0; padding: 0; height: 100%; }}
body {{ display: flex; flex-direction: column; height: 100vh; }}
#root {{ width: 100%; flex: 1 1 auto; min-height: 0; }}{style}</style>
</head>
<body>
{header}<div id="root"></div>
<script id="buckaroo-data" type="application/json">{artifact}</script>
{js}
</body>
</html>
"""


def viewer_file(name: str) -> Path:
    """Path of one of Buckaroo's viewer files, or a clear error saying how to get them."""
    if name not in VIEWER_FILES:
        raise ValueError(f"not a viewer file: {name!r}")
    spec = importlib.util.find_spec("buckaroo")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "static" / name
        if path.is_file():
            return path
    raise ViewerUnavailable(
        f"Buckaroo's viewer file {name} was not found: install the viewer extra "
        "(pip install -e '.[viewer]' from a checkout) or buckaroo>=0.15.11,<0.16"
    )


def _defused(tag: str, text: str) -> str:
    return _CLOSING[tag].sub(r"<\\/\1", text)


def bundle_page(
    bundle: Bundle,
    embed_type: str = "DFViewer",
    *,
    title: str | None = None,
    assets_url: str | None = None,
    refresh: int | None = None,
    **display: Any,
) -> str:
    """A bundle's viewer page: the header line, then Buckaroo's grid of its first window.

    ``refresh`` (seconds) makes the page reload itself: the server sets it on
    the pages of builds in progress, until the complete bundle is there.
    """
    shown = Display(**display)
    artifact = buckaroo_artifact(bundle, embed_type, shown)
    rows = bundle.first_window.num_rows
    rows = rows if shown.rows is None else min(rows, shown.rows)
    return render_page(
        artifact,
        title=title or bundle.dataset or bundle.data_id,
        assets_url=assets_url,
        header=page_header(bundle, rows),
        refresh=refresh,
    )


def render_page(
    artifact: dict[str, Any],
    *,
    title: str,
    assets_url: str | None = None,
    header: str = "",
    refresh: int | None = None,
) -> str:
    """One HTML page; the viewer files are inlined, or linked under ``assets_url``.

    ``header`` is trusted HTML shown above the grid (see :func:`page_header`);
    ``refresh`` reloads the page every that many seconds.
    """
    if assets_url is None:
        css_text = viewer_file("static-embed.css").read_text(encoding="utf-8")
        js_text = viewer_file("static-embed.js").read_text(encoding="utf-8")
        css = f"<style>{_defused('style', css_text)}</style>"
        js = f'<script type="module">{_defused("script", js_text)}</script>'
    else:
        base = html.escape(assets_url.rstrip("/"), quote=True)
        css = f'<link rel="stylesheet" href="{base}/static-embed.css">'
        js = f'<script type="module" src="{base}/static-embed.js"></script>'
    payload = json.dumps(artifact, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    payload = _JSON_UNSAFE.sub(lambda m: _JSON_ESCAPES[m.group()], payload)
    style = HEADER_CSS + _STATIC_CSS if header else _STATIC_CSS
    reload = "" if refresh is None else f'\n<meta http-equiv="refresh" content="{int(refresh)}">'
    return _PAGE.format(
        title=html.escape(title), css=css, js=js, artifact=payload, header=header, style=style,
        refresh=reload,
    )
