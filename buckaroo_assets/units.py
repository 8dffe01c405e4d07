"""Sizes and ages as people read them, shared by the CLI's tables and the viewer's index."""

from __future__ import annotations

import datetime as _dt

__all__ = ["human_age", "human_size", "text_of"]


def human_size(n: int) -> str:
    """Bytes as people read them: ``512 B``, ``12.3 KiB``, ``4.0 MiB``."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if round(value, 1) < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} PiB"


def human_age(delta: _dt.timedelta) -> str:
    """How long ago, at the coarsest useful unit: ``42s``, ``5m``, ``3h``, ``6d``, ``8w``."""
    s = max(0, int(delta.total_seconds()))
    for limit, unit, size in ((60, "s", 1), (3600, "m", 60), (86_400, "h", 3600)):
        if s < limit:
            return f"{s // size}{unit}"
    return f"{s // 86_400}d" if s < 14 * 86_400 else f"{s // 604_800}w"


def text_of(value: object) -> str:
    """``str(value)``, except Arrow scalars are formatted by Arrow itself.

    Arrow keeps timestamps, dates and durations far beyond Python's datetime
    (year 9999 east of UTC, date32's maximum, year 200000): ``str()`` of such a
    scalar converts it to a Python value first and overflows.
    """
    if type(value).__module__.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(value, pa.Scalar):
            return pa.array([value]).cast(pa.string())[0].as_py()
    return str(value)
