"""The stat codec must give back the same type and value, and the same bytes for equal inputs."""

from __future__ import annotations

import collections
import datetime as dt
import enum
import importlib.util
import json
import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buckaroo_assets.bundle import codec
from buckaroo_assets.bundle.codec import (
    MalformedEncodingError,
    UnsupportedValueError,
    decode,
    dumps,
    encode,
    loads,
)

NEW_YORK = ZoneInfo("America/New_York")
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))

# ---------------------------------------------------------------- comparison


def _same_tz(a: dt.tzinfo | None, b: dt.tzinfo | None) -> bool:
    if a is None or b is None:
        return a is b
    if type(a) is not type(b):
        return False
    if isinstance(a, ZoneInfo):
        return a.key == b.key  # type: ignore[attr-defined]
    return a == b and a.tzname(None) == b.tzname(None)


def assert_same(a: Any, b: Any) -> None:
    """Equality that also demands identical types, NaN == NaN, and Decimal digits/exponent."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, float | np.floating):
        if math.isnan(a):
            assert math.isnan(b)
        else:
            assert a == b and math.copysign(1.0, a) == math.copysign(1.0, b), (a, b)
    elif isinstance(a, Decimal):
        assert a.as_tuple() == b.as_tuple(), (a, b)
    elif isinstance(a, np.datetime64 | np.timedelta64):
        assert a.dtype == b.dtype and a.view(np.int64) == b.view(np.int64), (a, b)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, dict):
        assert len(a) == len(b)
        b_keys = {k: k for k in b}
        for k, v in a.items():
            assert_same(k, b_keys[k])
            assert_same(v, b[k])
    elif isinstance(a, dt.datetime | dt.time):
        assert a.replace(tzinfo=None) == b.replace(tzinfo=None), (a, b)
        assert a.fold == b.fold and _same_tz(a.tzinfo, b.tzinfo), (a, b)
    elif isinstance(a, pa.Scalar):
        assert a.type == b.type and a.is_valid == b.is_valid and a.value == b.value, (a, b)
        assert a.equals(b)
    else:
        assert a == b, (a, b)


def roundtrip(value: Any) -> Any:
    """Check both the structure and the bytes path, and that re-encoding is stable."""
    assert_same(decode(encode(value)), value)
    data = dumps(value)
    back = loads(data)
    assert_same(back, value)
    assert dumps(back) == data
    return back


# ---------------------------------------------------------------- strategies

fixed_offsets = st.builds(
    dt.timezone,
    st.timedeltas(
        min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)
    ),
)
named_offsets = st.builds(
    dt.timezone,
    st.timedeltas(min_value=dt.timedelta(hours=-12), max_value=dt.timedelta(hours=12)),
    st.text(min_size=1, max_size=8),
)
tzinfos = st.none() | st.just(dt.UTC) | fixed_offsets | named_offsets | st.timezones()
folds = st.integers(0, 1)

datetimes = st.builds(lambda d, f: d.replace(fold=f), st.datetimes(timezones=tzinfos), folds)
times = st.builds(lambda t, f: t.replace(fold=f), st.times(timezones=tzinfos), folds)
decimals = st.decimals(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [
        Decimal("sNaN"),
        Decimal("-sNaN42"),
        Decimal("NaN7"),
        Decimal("-0"),
        Decimal("1E+30"),
        Decimal("-0E-7"),
    ]
)

INT_DTYPES = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "longlong",
    "ulonglong",
]
TIME_UNITS = ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as", "10ms"]


def _int_scalar(name: str) -> st.SearchStrategy[Any]:
    info = np.iinfo(np.dtype(name))
    return st.integers(int(info.min), int(info.max)).map(np.dtype(name).type)


def _time_scalar(kind: str, unit: str) -> st.SearchStrategy[Any]:
    dtype = np.dtype(f"{kind}[{unit}]")
    return st.integers(-(2**63), 2**63 - 1).map(lambda i: np.int64(i).view(dtype))  # -2**63 is NaT


numpy_scalars = st.one_of(
    st.booleans().map(np.bool_),
    *[_int_scalar(n) for n in INT_DTYPES],
    st.floats(width=16).map(np.float16),
    st.floats(width=32).map(np.float32),
    st.floats().map(np.float64),
    *[_time_scalar(k, u) for k in ("datetime64", "timedelta64") for u in TIME_UNITS],
    st.just(np.datetime64("NaT")),
    st.just(np.timedelta64("NaT")),
)

ARROW_TYPES = [
    *[
        pa.timestamp(u, tz=tz)
        for u in ("s", "ms", "us", "ns")
        for tz in (None, "UTC", "America/New_York", "+05:30")
    ],
    *[pa.duration(u) for u in ("s", "ms", "us", "ns")],
    pa.time32("s"),
    pa.time32("ms"),
    pa.time64("us"),
    pa.time64("ns"),
    pa.date32(),
    pa.date64(),
]


def _arrow_scalar(typ: pa.DataType, value: int | None) -> pa.Scalar:
    if value is None:
        return pa.scalar(None, type=typ)
    storage = pa.int32() if typ.bit_width == 32 else pa.int64()
    bound = 2 ** (typ.bit_width - 1)
    return pa.array([value % (2 * bound) - bound], type=storage).view(typ)[0]


arrow_scalars = st.builds(
    _arrow_scalar, st.sampled_from(ARROW_TYPES), st.none() | st.integers(-(2**63), 2**63 - 1)
)

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**200), 2**200),
    st.floats(),
    st.text(),
    st.binary(),
    decimals,
    datetimes,
    st.dates(),
    times,
    st.timedeltas(),
    numpy_scalars,
    arrow_scalars,
)
hashable_keys = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False) | st.dates(),
    lambda inner: st.lists(inner, max_size=3).map(tuple),
    max_leaves=4,
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(), children, max_size=4),
        st.dictionaries(hashable_keys, children, max_size=4),
    ),
    max_leaves=12,
)

# ---------------------------------------------------------------- properties


@settings(
    max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(values)
def test_roundtrip_property(value: Any) -> None:
    roundtrip(value)


@settings(max_examples=100)
@given(st.dictionaries(hashable_keys | st.text(), st.integers(), max_size=8), st.randoms())
def test_dict_insertion_order_does_not_change_bytes(d: dict[Any, int], rnd: Any) -> None:
    items = list(d.items())
    rnd.shuffle(items)
    assert dumps(dict(items)) == dumps(d)


# ---------------------------------------------------------------- edge cases


@pytest.mark.parametrize(
    "n", [0, 1, -1, 2**53, -(2**53), 2**53 + 1, -(2**63), 2**64, 10**40, -(10**40)]
)
def test_ints(n: int) -> None:
    roundtrip(n)
    if abs(n) <= 2**53:
        assert encode(n) == n
    else:
        assert encode(n) == {"$int": str(n)}


def test_int_beyond_str_digit_limit() -> None:
    n = -(10**5000) - 7
    assert loads(dumps(n)) == n


def test_bool_is_not_int() -> None:
    assert roundtrip(True) is True
    assert roundtrip([False, 0])[0] is False
    assert_same(roundtrip({True: 1, 2: 0}), {True: 1, 2: 0})


def test_negative_zero_keeps_its_sign() -> None:
    assert dumps(-0.0) == b"-0.0"
    assert math.copysign(1.0, roundtrip(-0.0)) == -1.0
    assert math.copysign(1.0, float(roundtrip(np.float32(-0.0)))) == -1.0


@pytest.mark.parametrize("x", [math.nan, math.inf, -math.inf])
def test_non_finite_floats(x: float) -> None:
    roundtrip(x)
    roundtrip(np.float32(x))
    roundtrip(np.float16(x))
    assert b"NaN" not in dumps(x) and b"Infinity" not in dumps(x)


@pytest.mark.parametrize(
    "x", [0.1, 1e-320, 5e-324, 1.7976931348623157e308, 1e16, 123456789.123456789]
)
def test_finite_floats_stay_plain(x: float) -> None:
    assert encode(x) == x
    roundtrip(x)


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 1, 2, 3, 4, 5, 678901),
        dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        dt.datetime(2021, 11, 7, 1, 30, tzinfo=NEW_YORK, fold=1),
        dt.datetime(2021, 11, 7, 1, 30, tzinfo=NEW_YORK, fold=0),
        dt.datetime(2024, 6, 1, 12, tzinfo=IST),
        dt.datetime(2024, 6, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=1), "CET")),
        dt.datetime(2024, 6, 1, 12, fold=1),
        dt.datetime(2024, 6, 1, tzinfo=dt.timezone(dt.timedelta(microseconds=-1))),
        dt.time(tzinfo=dt.timezone(dt.timedelta(microseconds=1))),
        dt.datetime.min,
        dt.datetime.max.replace(tzinfo=NEW_YORK),
        dt.date(1, 1, 1),
        dt.date(2024, 2, 29),
        dt.time(23, 59, 59, 999999),
        dt.time(12, 0, tzinfo=IST),
        dt.time(1, 30, tzinfo=NEW_YORK, fold=1),
        dt.timedelta(days=-1, microseconds=1),
        dt.timedelta.max,
        dt.timedelta.min,
    ],
)
def test_temporal(value: Any) -> None:
    roundtrip(value)


def test_new_york_fold_is_the_later_instant() -> None:
    back = roundtrip(dt.datetime(2021, 11, 7, 1, 30, tzinfo=NEW_YORK, fold=1))
    assert back.tzinfo is NEW_YORK and back.fold == 1
    assert back.utcoffset() == dt.timedelta(hours=-5)
    payload = encode(back)["$datetime"]  # type: ignore[index]
    assert payload == {"iso": "2021-11-07T01:30:00-05:00", "zone": "America/New_York", "fold": 1}


@pytest.mark.parametrize(
    "value",
    [
        np.datetime64("2024-01-02T03:04:05.123456789", "ns"),
        np.datetime64("NaT", "ns"),
        np.datetime64("NaT"),
        np.datetime64(5, "10ms"),
        np.timedelta64(-3, "ps"),
        np.timedelta64("NaT", "s"),
        np.int64(-(2**63)),
        np.uint64(2**64 - 1),
        np.longlong(7),
        np.bool_(False),
        np.float16(65504.0),
        np.float32(1e-45),
    ],
)
def test_numpy_scalars(value: Any) -> None:
    back = roundtrip(value)
    assert back.dtype == value.dtype


@pytest.mark.parametrize(
    "value",
    [
        pa.scalar(1_700_000_000_123_456_789, type=pa.timestamp("ns", tz="America/New_York")),
        pa.scalar(1_700_000_000_123_456_789, type=pa.timestamp("ns", tz="+05:30")),
        pa.scalar(-1, type=pa.timestamp("s")),
        pa.scalar(None, type=pa.timestamp("ns", tz="UTC")),
        pa.scalar(10**18, type=pa.duration("ns")),
        pa.scalar(None, type=pa.duration("ms")),
        pa.scalar(86_399_999_999_999, type=pa.time64("ns")),
        pa.scalar(86_399, type=pa.time32("s")),
        pa.scalar(dt.date(2024, 1, 2), type=pa.date32()),
        pa.scalar(dt.date(2024, 1, 2), type=pa.date64()),
        pa.scalar(None, type=pa.date64()),
    ],
)
def test_arrow_scalars(value: pa.Scalar) -> None:
    roundtrip(value)


def test_arrow_wire_form() -> None:
    s = pa.scalar(1_700_000_000_123_456_789, type=pa.timestamp("ns", tz="UTC"))
    assert encode(s) == {"$arrow": ["timestamp[ns, tz=UTC]", {"$int": "1700000000123456789"}]}


@pytest.mark.parametrize(
    "value",
    [
        Decimal("NaN"),
        Decimal("-sNaN12"),
        Decimal("Infinity"),
        Decimal("-0"),
        Decimal("1E+30"),
        Decimal("1.50"),
    ],
)
def test_decimals(value: Decimal) -> None:
    roundtrip(value)
    assert encode(value) == {"$decimal": str(value)}


def test_tuples_and_lists_stay_distinct() -> None:
    value = [("a", 1), ["a", 1], (), [], ((),), ([],)]
    back = roundtrip(value)
    assert [type(x) for x in back] == [tuple, list, tuple, list, tuple, tuple]


def test_dict_keys_survive() -> None:
    value = {1: "int", ("a", 1): "multiindex", "$x": "dollar", "plain": {}, None: [], 2.5: ()}
    back = roundtrip(value)
    assert back[("a", 1)] == "multiindex" and back["$x"] == "dollar"
    assert "$dict" in encode(value)  # type: ignore[operator]


def test_plain_dicts_stay_plain() -> None:
    assert encode({"b": 1, "a": [None, True]}) == {"b": 1, "a": [None, True]}
    assert dumps({"b": 1, "a": 2}) == b'{"a":2,"b":1}'


def test_dict_with_several_nan_keys() -> None:
    d = {float("nan"): 1, float("nan"): 2, 0: 3}
    back = loads(dumps(d))
    assert sorted(back.values()) == [1, 2, 3]
    assert dumps(back) == dumps(d)


def test_empty_containers() -> None:
    for value in ([], (), {}, "", b"", [[], (), {}]):
        roundtrip(value)


def test_bytes_and_bytearray() -> None:
    roundtrip(bytes(range(256)))
    assert loads(dumps(bytearray(b"\x00\xff"))) == b"\x00\xff"
    assert type(loads(dumps(bytearray(b"x")))) is bytes  # documented: bytearray comes back as bytes


def test_strings() -> None:
    for s in ["", "\x00", "naïve ☃ 𝄞", '"\\/\n', "$not-a-tag"]:
        roundtrip(s)
    big = "é" * (5 * 1024 * 1024)  # 10 MB of UTF-8
    assert loads(dumps(big)) == big


def test_lone_surrogate_is_rejected_by_dumps() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        dumps("\ud800")


def test_wire_format_is_stable() -> None:
    """Readers in other languages depend on these exact bytes; change only with a version bump."""
    value = {
        "n": [2**53 + 1, -0.0, math.nan],
        "t": ("a", 1),
        "k": {1: b"\x00"},
        "d": Decimal("1.50"),
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "day": dt.date(2024, 1, 2),
        "dur": dt.timedelta(days=1, seconds=2, microseconds=3),
        "np": np.int8(-5),
    }
    assert dumps(value) == (
        b'{"d":{"$decimal":"1.50"},"day":{"$date":"2024-01-02"},'
        b'"dur":{"$timedelta":[1,2,3]},"k":{"$dict":[[1,{"$bytes":"AA=="}]]},'
        b'"n":[{"$int":"9007199254740993"},-0.0,{"$float":"nan"}],"np":{"$numpy":["int8",-5]},'
        b'"t":{"$tuple":["a",1]},"when":{"$datetime":{"iso":"2024-01-02T03:04:05+00:00"}}}'
    )


def test_dumps_is_strict_json() -> None:
    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard constant {name}")

    data = dumps([math.nan, math.inf, -math.inf, np.float64("nan"), Decimal("Infinity")])
    json.loads(data, parse_constant=refuse)
    data.decode("utf-8")


def test_loads_accepts_str_and_bytes() -> None:
    assert loads('{"$tuple":[1]}') == (1,)
    assert loads(b'{"$tuple":[1]}') == (1,)


# ---------------------------------------------------------------- errors


class _Color(enum.IntEnum):
    RED = 1


class _Tz(dt.tzinfo):
    def utcoffset(self, d: Any) -> dt.timedelta:
        return dt.timedelta(0)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (object(), "object"),
        ({1, 2}, "set"),
        (frozenset(), "frozenset"),
        (_Color.RED, "_Color"),
        (collections.OrderedDict(a=1), "OrderedDict"),
        (1 + 2j, "complex"),
        (np.str_("a"), "numpy.str_"),
        (np.complex128(1), "complex128"),
        (np.longdouble(1), "longdouble"),
        (np.array([1]), "numpy.ndarray"),
        (pa.scalar(1), "Int64Scalar"),
        (pa.array([1]), "Int64Array"),
        (pd.Timestamp("2024-01-01"), "Timestamp"),
        (pd.Series([1]), "Series"),
        (dt.datetime(2024, 1, 1, tzinfo=_Tz()), "_Tz"),
        ([1, {"k": (object(),)}], "object"),
        ({object(): 1}, "object"),
    ],
)
def test_unsupported_types_raise_type_error(value: Any, name: str) -> None:
    with pytest.raises(TypeError, match=name) as info:
        encode(value)
    assert isinstance(info.value, UnsupportedValueError)
    with pytest.raises(UnsupportedValueError):
        dumps(value)


@pytest.mark.parametrize(
    "obj",
    [
        {"$nope": 1},
        {"$int": 5},
        {"$int": "1.5"},
        {"$int": " 12"},
        {"$float": "NaN"},
        {"$float": 1.0},
        {"$bytes": "!!"},
        {"$bytes": 3},
        {"$tuple": {}},
        {"$dict": {}},
        {"$dict": [[1]]},
        {"$dict": [[[1], 2]]},
        {"$dict": [[1, "a"], [1, "b"]]},
        {"$decimal": "abc"},
        {"$decimal": 1.5},
        {"$date": "yesterday"},
        {"$datetime": "2024-01-01"},
        {"$datetime": {"iso": "not a date"}},
        {"$datetime": {"iso": "2024-01-01T00:00:00", "zone": "No/Such_Zone"}},
        {"$datetime": {"iso": "2024-01-01T00:00:00", "zone": "../etc"}},
        {"$datetime": {"iso": "2024-01-01T00:00:00", "zone": "America"}},
        {"$datetime": {"iso": "2024-01-01T00:00:00", "fold": 2}},
        {"$datetime": {"iso": "2024-01-01T00:00:00", "fold": True}},
        {"$datetime": {"iso": "2024-01-01T00:00:00", "tzname": "CET"}},
        {"$datetime": {"iso": "2024-01-01T00:00:00+01:00", "tzname": "CET", "zone": "UTC"}},
        {"$datetime": {"iso": "2024-01-01T00:00:00", "extra": 1}},
        {"$time": {"iso": "25:00"}},
        {"$timedelta": [1, 2]},
        {"$timedelta": [1, 2.0, 3]},
        {"$timedelta": [10**10, 0, 0]},
        {"$numpy": ["object", 1]},
        {"$numpy": ["nonsense", 1]},
        {"$numpy": ["complex128", 1]},
        {"$numpy": ["float128", 1.0]},
        {"$numpy": ["int8", 300]},
        {"$numpy": ["int8", 1.0]},
        {"$numpy": ["bool", 1]},
        {"$numpy": ["float32", 0.1]},
        {"$numpy": ["float16", 1e300]},
        {"$numpy": ["datetime64[ns]", 2**63]},
        {"$numpy": ["int8"]},
        {"$arrow": ["int64", 1]},
        {"$arrow": ["duration[ns, tz=UTC]", 1]},
        {"$arrow": ["timestamp[xs]", 1]},
        {"$arrow": ["time32[s]", 2**40]},
        {"$arrow": ["date32[day]", "1"]},
        {"$x": 1, "y": 2},
        {"$tuple": [1], "$int": "5"},
        [{"$nope": 1}],
        {"ok": {"$nope": 1}},
    ],
)
def test_malformed_input_raises_value_error(obj: Any) -> None:
    with pytest.raises(ValueError) as info:
        decode(obj)
    assert isinstance(info.value, MalformedEncodingError)
    with pytest.raises(MalformedEncodingError):
        loads(json.dumps(obj))


@pytest.mark.parametrize("obj", [(1, 2), {1: 2}, b"x", object(), Decimal(1)])
def test_decode_rejects_non_json_values(obj: Any) -> None:
    with pytest.raises(MalformedEncodingError):
        decode(obj)


@pytest.mark.parametrize("data", [b"NaN", b"[Infinity]", b"{", b"", "\x00", b'"\xff"'])
def test_loads_rejects_invalid_json(data: bytes | str) -> None:
    with pytest.raises(MalformedEncodingError):
        loads(data)


def test_error_messages_name_the_tag() -> None:
    with pytest.raises(MalformedEncodingError, match=r"\$nope"):
        decode({"$nope": 1})
    with pytest.raises(MalformedEncodingError, match=r"\$timedelta"):
        decode({"$timedelta": "1 day"})


# ---------------------------------------------------------------- import cost


@pytest.mark.parametrize("isolated", [False, True], ids=["as-imported", "codec-only"])
def test_import_does_not_load_numpy_pandas_or_pyarrow(isolated: bool) -> None:
    """Reading plain stats must not pay for numpy/pandas/pyarrow. The codec-only variant stubs
    the package __init__, so a failure there is the codec's own fault, not the package's."""
    spec = importlib.util.find_spec("buckaroo_assets")
    assert spec is not None and spec.submodule_search_locations is not None
    package_dirs = list(spec.submodule_search_locations)
    stub = (
        "import types\n"
        "pkg = types.ModuleType('buckaroo_assets')\n"
        f"pkg.__path__ = {package_dirs!r}\n"
        "sys.modules['buckaroo_assets'] = pkg\n"
    )
    script = (
        "import sys\n" + (stub if isolated else "") + "import buckaroo_assets.bundle.codec as c\n"
        "assert c.loads(c.dumps({'a': (1, 2.5)})) == {'a': (1, 2.5)}\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(package_dirs[0]).parent)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


def test_public_api() -> None:
    assert set(codec.__all__) == {
        "encode",
        "decode",
        "dumps",
        "loads",
        "UnsupportedValueError",
        "MalformedEncodingError",
    }
