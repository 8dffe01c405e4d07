"""Sizes and ages as people read them, shared by the CLI's tables and the viewer's index."""

from __future__ import annotations

import datetime as _dt
import math
import numbers

__all__ = ["human_age", "human_number", "human_size", "text_of"]


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


def human_number(value: object) -> str:
    """Numbers with thousands separators and four significant digits: ``4,813``, ``97.31``.

    Magnitudes beyond that range keep scientific notation; anything else
    (text, timestamps, Arrow scalars) is its :func:`text_of`.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return text_of(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    value = float(value)
    if not math.isfinite(value) or value == 0:
        return "0" if value == 0 else str(value)
    magnitude = abs(value)
    if not 1e-4 <= magnitude < 1e15:
        return f"{value:.4g}"
    text = f"{value:,.{max(0, 3 - math.floor(math.log10(magnitude)))}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def text_of(value: object) -> str:
    """``str(value)``, except Arrow scalars are formatted by Arrow itself.

    Arrow keeps timestamps, dates and durations far beyond Python's datetime
    (year 9999 east of UTC, date32's maximum, year 200000): ``str()`` of such a
    scalar converts it to a Python value first and overflows. A timestamp in a
    zone this machine does not know is written in UTC, which Arrow can format.
    """
    if type(value).__module__.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(value, pa.Scalar):
            array = pa.array([value])
            try:
                return array.cast(pa.string())[0].as_py()
            except pa.ArrowInvalid:
                if not (pa.types.is_timestamp(array.type) and array.type.tz):
                    raise
                return array.cast(pa.timestamp(array.type.unit, "UTC")).cast(pa.string())[0].as_py()
    return str(value)
