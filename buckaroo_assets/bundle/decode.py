"""``decode``/``loads``: type-tagged JSON back to the exact values (see :mod:`.codec`)."""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import decimal
import json
import math
import re
from collections.abc import Callable
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import BuckarooAssetsError
from .encode import NUMPY_KINDS, type_name

__all__ = ["MalformedEncodingError", "decode", "loads"]

_INT_TEXT = re.compile(r"-?[0-9]+")
_ARROW_TYPE_TEXT = re.compile(
    r"(timestamp|duration|time32|time64|date32|date64)\[(\w+)(?:, tz=(.+))?\]"
)
_ISO_OFFSET = re.compile(r"([+-])([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{6}))?)?\Z")


class MalformedEncodingError(BuckarooAssetsError, ValueError):
    """Input to decode() was not produced by encode(); fail loudly, never half-decode."""


def _bad(tag: str, payload: object, expected: str) -> MalformedEncodingError:
    shown = repr(payload)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return MalformedEncodingError(f"{tag}: expected {expected}, got {shown}")


def _expect(tag: str, payload: object, cls: type, expected: str) -> Any:
    if type(payload) is not cls:
        raise _bad(tag, payload, expected)
    return payload


def _pair(tag: str, payload: object) -> list[Any]:
    if type(payload) is not list or len(payload) != 2:
        raise _bad(tag, payload, "a [type, value] pair")
    return payload


def _exact_int(tag: str, value: object) -> int:
    if type(value) is not int:
        raise _bad(tag, value, "an integer")
    return value


def _dec_int(payload: object) -> int:
    text = _expect("$int", payload, str, "a decimal integer string")
    if not _INT_TEXT.fullmatch(text):
        raise _bad("$int", payload, "a decimal integer string")
    try:
        return int(text)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        return int(decimal.Decimal(text))


def _dec_float(payload: object) -> float:
    if payload not in ("nan", "inf", "-inf") or type(payload) is not str:
        raise _bad("$float", payload, "one of 'nan', 'inf', '-inf'")
    return float(payload)  # a fresh NaN object each time, so several NaN dict keys stay distinct


def _dec_bytes(payload: object) -> bytes:
    text = _expect("$bytes", payload, str, "a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad("$bytes", payload, "a base64 string") from exc


def _dec_dict(payload: object) -> dict[Any, Any]:
    items = _expect("$dict", payload, list, "a list of [key, value] pairs")
    out: dict[Any, Any] = {}
    for item in items:
        raw_key, raw_value = _pair("$dict", item)
        key, value = decode(raw_key), decode(raw_value)
        try:
            out[key] = value
        except TypeError as exc:  # unhashable key such as a list
            raise _bad("$dict", raw_key, "a hashable key") from exc
    if len(out) != len(items):
        raise MalformedEncodingError("$dict: duplicate keys")
    return out


def _dec_decimal(payload: object) -> decimal.Decimal:
    text = _expect("$decimal", payload, str, "a decimal string")
    with decimal.localcontext() as ctx:  # a caller's context must not turn junk into NaN
        ctx.traps[decimal.InvalidOperation] = True
        try:
            return decimal.Decimal(text)
        except decimal.InvalidOperation as exc:
            raise _bad("$decimal", payload, "a decimal string") from exc


def _dec_clock(tag: str, parse: Callable[[str], Any]) -> Callable[[object], Any]:
    def dec(payload: object) -> Any:
        fields = _expect(tag, payload, dict, "an object with 'iso'")
        if "iso" not in fields or not set(fields) <= {"iso", "zone", "tzname", "fold"}:
            raise _bad(tag, payload, "keys 'iso' and optionally 'zone', 'tzname', 'fold'")
        text = _expect(tag, fields["iso"], str, "an ISO-8601 string")
        try:
            v = parse(text)
        except ValueError as exc:
            raise _bad(tag, payload, "a valid ISO-8601 string") from exc
        suffix = _ISO_OFFSET.search(text)
        if suffix and v.tzinfo is not None:  # fromisoformat reads "+00:00:00.000001" as UTC
            sign, hh, mm, ss, us = suffix.groups()
            delta = _dt.timedelta(
                hours=int(hh), minutes=int(mm), seconds=int(ss or 0), microseconds=int(us or 0)
            )
            v = v.replace(tzinfo=_dt.timezone(-delta if sign == "-" else delta))
        if "zone" in fields:
            if "tzname" in fields:
                raise _bad(tag, payload, "at most one of 'zone' and 'tzname'")
            key = _expect(tag, fields["zone"], str, "a zone key")
            try:
                v = v.replace(tzinfo=ZoneInfo(key))
            except ZoneInfoNotFoundError as exc:
                # Encoded where the zone database knew the key (tzdata differs between
                # machines): the offset in 'iso' keeps the instant and its wall time exact.
                offset = v.utcoffset()
                if offset is None:
                    raise _bad(tag, key, "a known IANA zone key") from exc
                v = v.replace(tzinfo=_dt.timezone(offset, key))
            except (ValueError, OSError) as exc:  # a malformed key, a folder of zones
                raise _bad(tag, key, "a known IANA zone key") from exc
        elif "tzname" in fields:
            offset = v.utcoffset()
            if offset is None:
                raise _bad(tag, payload, "an offset in 'iso' when 'tzname' is given")
            v = v.replace(
                tzinfo=_dt.timezone(offset, _expect(tag, fields["tzname"], str, "a name"))
            )
        fold = fields.get("fold", 0)
        if fold not in (0, 1) or type(fold) is not int:
            raise _bad(tag, fold, "fold 0 or 1")
        return v.replace(fold=fold)

    return dec


def _dec_date(payload: object) -> _dt.date:
    try:
        return _dt.date.fromisoformat(_expect("$date", payload, str, "an ISO-8601 date"))
    except ValueError as exc:
        raise _bad("$date", payload, "an ISO-8601 date") from exc


def _dec_timedelta(payload: object) -> _dt.timedelta:
    if type(payload) is not list or len(payload) != 3:
        raise _bad("$timedelta", payload, "[days, seconds, microseconds]")
    days, seconds, micros = (_exact_int("$timedelta", p) for p in payload)
    try:
        return _dt.timedelta(days=days, seconds=seconds, microseconds=micros)
    except OverflowError as exc:
        raise _bad("$timedelta", payload, "a representable timedelta") from exc


def _dec_numpy(payload: object) -> Any:
    import numpy as np

    name, raw = _pair("$numpy", payload)
    try:
        dtype = np.dtype(_expect("$numpy", name, str, "a dtype name"))
    except TypeError as exc:
        raise _bad("$numpy", name, "a numpy dtype name") from exc
    kind = dtype.kind
    if kind not in NUMPY_KINDS or (kind == "f" and dtype.itemsize > 8):
        raise _bad("$numpy", name, "a bool, integer, float<=64, datetime64 or timedelta64 dtype")
    value = decode(raw)
    try:
        if kind == "b":
            if type(value) is not bool:
                raise _bad("$numpy", raw, "a bool")
            return dtype.type(value)
        if kind in "iu":
            return dtype.type(_exact_int("$numpy", value))
        if kind == "f":
            if type(value) is not float:
                raise _bad("$numpy", raw, "a float")
            if math.isfinite(value) and (
                abs(value) > float(np.finfo(dtype).max) or float(dtype.type(value)) != value
            ):
                raise _bad("$numpy", raw, f"a value exactly representable as {dtype}")
            return dtype.type(value)
        # NaT is the minimum int64 in every unit; view() keeps the unit exactly.
        ticks = np.iinfo(np.int64).min if value is None else _exact_int("$numpy", value)
        return np.int64(ticks).view(dtype)
    except OverflowError as exc:
        raise _bad("$numpy", raw, f"a value in range for {dtype}") from exc


def _dec_arrow(payload: object) -> Any:
    import pyarrow as pa

    text, raw = _pair("$arrow", payload)
    m = _ARROW_TYPE_TEXT.fullmatch(_expect("$arrow", text, str, "an arrow type string"))
    if m is None:
        raise _bad("$arrow", text, "a timestamp/duration/time/date arrow type")
    kind, unit, tz = m.groups()
    try:
        if kind == "timestamp":
            typ = pa.timestamp(unit, tz=tz)
        elif kind.startswith("date"):
            typ = getattr(pa, kind)()
        else:
            typ = getattr(pa, kind)(unit)
    except (ValueError, TypeError) as exc:
        raise _bad("$arrow", text, "a valid arrow type") from exc
    if str(typ) != text:  # e.g. a tz on a duration, or date32 with the wrong unit
        raise _bad("$arrow", text, "a canonical arrow type string")
    value = decode(raw)
    if value is None:
        return pa.scalar(None, type=typ)
    storage = pa.int32() if typ.bit_width == 32 else pa.int64()
    try:  # view() reinterprets the stored integer, so no unit conversion can round
        return pa.array([_exact_int("$arrow", value)], type=storage).view(typ)[0]
    except (OverflowError, pa.ArrowInvalid) as exc:
        raise _bad("$arrow", raw, f"a value in range for {typ}") from exc


_DECODERS: dict[str, Callable[[object], Any]] = {
    "$int": _dec_int,
    "$float": _dec_float,
    "$bytes": _dec_bytes,
    "$tuple": lambda p: tuple(decode(x) for x in _expect("$tuple", p, list, "a list")),
    "$dict": _dec_dict,
    "$decimal": _dec_decimal,
    "$datetime": _dec_clock("$datetime", _dt.datetime.fromisoformat),
    "$time": _dec_clock("$time", _dt.time.fromisoformat),
    "$date": _dec_date,
    "$timedelta": _dec_timedelta,
    "$numpy": _dec_numpy,
    "$arrow": _dec_arrow,
}

_PLAIN = (type(None), bool, str, int, float)


def decode(obj: object) -> object:
    """Rebuild the original value from encode() output, rejecting anything it could not produce."""
    cls = type(obj)
    if cls in _PLAIN:
        return obj
    if cls is list:
        return [decode(x) for x in cast(list[Any], obj)]
    if cls is not dict:
        raise MalformedEncodingError(f"not a JSON value: {type_name(obj)}")
    fields = cast(dict[Any, Any], obj)
    if any(type(k) is not str for k in fields):
        raise MalformedEncodingError("JSON object keys must be strings")
    tags = [k for k in fields if k.startswith("$")]
    if not tags:
        return {k: decode(v) for k, v in fields.items()}
    if len(fields) != 1:
        raise MalformedEncodingError(
            f"a tagged object must have exactly one key, got {sorted(fields)}"
        )
    tag = tags[0]
    dec = _DECODERS.get(tag)
    if dec is None:
        raise MalformedEncodingError(f"unknown tag {tag!r}")
    return dec(fields[tag])


def _reject_constant(name: str) -> object:
    raise MalformedEncodingError(f"non-standard JSON constant {name}; dumps() never writes it")


def loads(data: bytes | str) -> object:
    """Inverse of dumps(); strict, so foreign NaN/Infinity literals are not silently accepted."""
    try:
        obj = json.loads(data, parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedEncodingError(f"invalid JSON: {exc}") from exc
    return decode(obj)
