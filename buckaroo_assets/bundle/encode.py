"""``encode``/``dumps``: stat values to type-tagged, canonical JSON (see :mod:`.codec`)."""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import json
import math
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import BuckarooAssetsError

__all__ = ["UnsupportedValueError", "canonical_text", "dumps", "encode"]

# Largest magnitude every IEEE-754 double reader (JavaScript, jq, ...) holds exactly.
_MAX_SAFE_INT = 2**53
NUMPY_KINDS = "biufMm"


class UnsupportedValueError(BuckarooAssetsError, TypeError):
    """A value has no lossless encoding; raised rather than guessing with repr()."""


def type_name(value: object) -> str:
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _unsupported(value: object, what: str = "") -> UnsupportedValueError:
    return UnsupportedValueError(f"cannot encode {what or 'value'} of type {type_name(value)}")


def canonical_text(obj: object) -> str:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


# ---------------------------------------------------------------- encoders


def _enc_int(v: int) -> object:
    if -_MAX_SAFE_INT <= v <= _MAX_SAFE_INT:
        return v
    try:
        text = str(v)
    except ValueError:  # beyond sys.get_int_max_str_digits(); Decimal has no such cap
        text = str(decimal.Decimal(v))
    return {"$int": text}


def _enc_float(v: float) -> object:
    if math.isfinite(v):
        return v
    return {"$float": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}


def _enc_dict(v: dict[Any, Any]) -> object:
    if all(type(k) is str and not k.startswith("$") for k in v):
        return {k: encode(x) for k, x in v.items()}
    pairs = [(canonical_text(k), k, x) for k, x in ((encode(k), encode(x)) for k, x in v.items())]
    if len({p[0] for p in pairs}) == len(pairs):
        pairs.sort(key=lambda p: p[0])
    else:  # only distinct NaN keys encode alike; their values then fix the order
        pairs.sort(key=lambda p: (p[0], canonical_text(p[2])))
    return {"$dict": [[k, x] for _, k, x in pairs]}


def _tz_fields(tz: _dt.tzinfo | None) -> dict[str, object]:
    if tz is None:
        return {}
    if type(tz) is ZoneInfo and tz.key is not None:
        return {"zone": tz.key}
    if type(tz) is _dt.timezone:
        name = tz.tzname(None)
        default = _dt.timezone(tz.utcoffset(None)).tzname(None)
        return {} if name == default else {"tzname": name}
    raise _unsupported(tz, "tzinfo")


def _enc_clock(tag: str) -> Callable[[Any], object]:
    def enc(v: _dt.datetime | _dt.time) -> object:
        payload: dict[str, object] = {"iso": v.isoformat(), **_tz_fields(v.tzinfo)}
        if v.fold:
            payload["fold"] = 1
        return {tag: payload}

    return enc


def _enc_numpy(v: Any) -> object:
    import numpy as np

    if not isinstance(v, np.generic):
        raise _unsupported(v)
    dtype = v.dtype
    if dtype.kind not in NUMPY_KINDS or (dtype.kind == "f" and dtype.itemsize > 8):
        raise _unsupported(v, f"numpy dtype {dtype}")
    # Aliases like numpy.longlong share a dtype name with int64 but are distinct types.
    name = dtype.name if np.dtype(dtype.name).type is type(v) else type(v).__name__
    if dtype.kind == "b":
        value: object = bool(v)
    elif dtype.kind in "iu":
        value = encode(int(v))
    elif dtype.kind == "f":
        value = encode(float(v))
    else:
        value = None if np.isnat(v) else encode(int(v.view(np.int64)))
    return {"$numpy": [name, value]}


def _enc_arrow(v: Any) -> object:
    import pyarrow as pa

    if not isinstance(v, pa.Scalar):
        raise _unsupported(v)
    t = v.type
    if not (
        pa.types.is_timestamp(t)
        or pa.types.is_duration(t)
        or pa.types.is_time(t)
        or pa.types.is_date(t)
    ):
        raise _unsupported(v, f"arrow type {t}")
    return {"$arrow": [str(t), encode(v.value)]}


def _enc_bytes(v: bytes | bytearray) -> object:
    return {"$bytes": base64.b64encode(v).decode("ascii")}


def _identity(v: object) -> object:
    return v


_ENCODERS: dict[type, Callable[[Any], object]] = {
    type(None): _identity,
    bool: _identity,
    str: _identity,
    int: _enc_int,
    float: _enc_float,
    list: lambda v: [encode(x) for x in v],
    tuple: lambda v: {"$tuple": [encode(x) for x in v]},
    dict: _enc_dict,
    bytes: _enc_bytes,
    bytearray: _enc_bytes,
    decimal.Decimal: lambda v: {"$decimal": str(v)},
    _dt.datetime: _enc_clock("$datetime"),
    _dt.time: _enc_clock("$time"),
    _dt.date: lambda v: {"$date": v.isoformat()},
    _dt.timedelta: lambda v: {"$timedelta": [v.days, v.seconds, v.microseconds]},
}

# Keyed by top-level module so numpy/pyarrow are imported only when their values appear.
_LAZY_ENCODERS: dict[str, Callable[[Any], object]] = {"numpy": _enc_numpy, "pyarrow": _enc_arrow}


def encode(value: object) -> object:
    """Make ``value`` JSON-safe without losing its type, so decode() can restore it exactly."""
    cls = type(value)
    enc = _ENCODERS.get(cls) or _LAZY_ENCODERS.get(cls.__module__.partition(".")[0])
    if enc is None:
        raise _unsupported(value)
    return enc(value)


# ---------------------------------------------------------------- decoders


def dumps(value: object) -> bytes:
    """Serialise canonically, so equal values give identical bytes (usable for hashing and diffs)."""
    text = canonical_text(encode(value))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            "strings containing lone surrogates cannot be stored as UTF-8 JSON"
        ) from exc
