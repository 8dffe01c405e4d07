"""Hostile inputs to build_bundle, data_id_for and BundleStore.put.

Each is either summarised exactly or refused with a documented error whose
message names the source, the column (label and position) and its type. In
every case nothing is printed to stderr, no warning is raised, and the store
the producer path (``ensure_bundle``: data_id, lookup, build, put) wrote to
holds no temporary file and no pack that no manifest names.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import io
import json
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileOpener, LocalFileSystem

import buckaroo_assets as ba
from buckaroo_assets.build.publish import ensure_bundle
from buckaroo_assets.bundle import codec
from buckaroo_assets.errors import UnreadableSourceError
from buckaroo_assets.store.entries import VerifyReport
from buckaroo_assets.store.layout import TEMP_MARK
from buckaroo_assets.store.objects import ObjectFiles

DOCUMENTED = (ba.BuckarooAssetsError, FileNotFoundError, PermissionError)
ZERO = dt.timedelta(0)
MARS = pa.timestamp("us", tz="Mars/Olympus")  # a zone no time-zone database knows


def not_utf8(*values: bytes | None, large: bool = False) -> pa.Array:
    """Text whose bytes are not UTF-8, as a Parquet or JSON reader would hand it over."""
    if large:
        return pa.array(list(values), pa.large_binary()).view(pa.large_string())
    return pa.array(list(values), pa.binary()).view(pa.string())


def nested_list(levels: int) -> list[Any]:
    cell: Any = 1
    for _ in range(levels):
        cell = [cell]
    return cell


def self_containing_list() -> list[Any]:
    cell: list[Any] = [1]
    cell.append(cell)
    return cell


def self_containing_dict() -> dict[str, Any]:
    cell: dict[str, Any] = {"a": 1}
    cell["self"] = cell
    return cell


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for this one")

    __repr__ = __str__


AN_OBJECT = object()  # a column label whose only text is its address


class Colour(enum.Enum):
    RED = 1
    BLUE = 2


def objects(*values: object) -> pd.Series:
    return pd.Series(values, dtype=object)


def store_with_one_bundle(path: Path) -> ba.BundleStore:
    """A store already holding a bundle, so verify has something to check."""
    store = ba.BundleStore(path)
    store.put(ba.build_bundle(pa.table({"ok": [1, 2, 3]}), data_id="resident"), dataset="resident")
    return store


def assert_no_leak(store: ba.BundleStore, *, bundles: int = 1) -> None:
    """No temporary file, no pack without a manifest, nothing damaged, however young."""
    files = [p for p in Path(store.root).rglob("*") if p.is_file()]
    assert [p.name for p in files if TEMP_MARK in p.name] == []
    report = store.verify(grace=ZERO)
    assert (report.damaged, report.orphans, report.checked) == ([], [], bundles)


def quietly(call: Callable[[], Any]) -> Any:
    """Run ``call`` with every warning an error: a numpy or pandas warning fails the case."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


# ---------------------------------------------------------------- refused, naming the column


@dataclass(frozen=True)
class Refused:
    """A source a build refuses, and what the message must start with."""

    make: Callable[[Path], Any]
    source: str  # as the message names it; "{path}" is the file written
    label: Any
    position: int
    column_type: str
    problem: str  # a fragment of what is wrong
    id_refuses: bool = False  # data_id_for refuses it too (else it is given an id)


def _parquet(table: pa.Table, **options: Any) -> Callable[[Path], str]:
    def write(folder: Path) -> str:
        path = folder / "data.parquet"
        pq.write_table(table, path, **options)
        return str(path)

    return write


def _jsonl(data: bytes) -> Callable[[Path], str]:
    def write(folder: Path) -> str:
        path = folder / "data.jsonl"
        path.write_bytes(data)
        return str(path)

    return write


FRAME = "pandas DataFrame"
TABLE = "pyarrow Table"
POLARS = "polars DataFrame"
NO_FORM = "which has no stable form"
TOO_DEEP = "nests more than 32 levels deep (or contains itself)"
BAD_TEXT = "holds text that is not valid UTF-8"

REFUSED = {
    # pandas object columns (the same error with and without a data_id)
    "ints of more than 76 digits": Refused(
        lambda _: pd.DataFrame({"n": [1], "big": objects(10**80)}),
        FRAME, "big", 1, "object", "holds integers of more than 76 digits"),
    "an int str() refuses beside text": Refused(
        lambda _: pd.DataFrame({"big": objects("x", 10**5000)}),
        FRAME, "big", 0, "object", "row 1: str() of its int fails"),
    "lone surrogate in text": Refused(
        lambda _: pd.DataFrame({"t": objects("fine", "\ud800")}),
        FRAME, "t", 0, "object", "row 1 holds text with a lone surrogate"),
    "lone surrogate among ints": Refused(
        lambda _: pd.DataFrame({"a": [1, 2], "t": objects(1, "\udfff")}),
        FRAME, "t", 1, "object", "row 1 holds text with a lone surrogate"),
    "object() cells": Refused(
        lambda _: pd.DataFrame({"o": objects(object(), object())}),
        FRAME, "o", 0, "object", f"row 0 holds a value of type object, {NO_FORM}", id_refuses=True),
    "mixed junk": Refused(
        lambda _: pd.DataFrame({"x": [0] * 6, "junk": objects(1, "a", b"x", 2.5, None, object())}),
        FRAME, "junk", 1, "object", f"row 5 holds a value of type object, {NO_FORM}", id_refuses=True),
    "cells whose str() raises": Refused(
        lambda _: pd.DataFrame({"u": objects(Unprintable(), 1)}),
        FRAME, "u", 0, "object", "row 0 holds a value of type tests.test_adversarial.Unprintable",
        id_refuses=True),
    "a list that contains itself": Refused(
        lambda _: pd.DataFrame({"l": objects([1], self_containing_list())}),
        FRAME, "l", 0, "object", f"row 1 {TOO_DEEP}", id_refuses=True),
    "a dict that contains itself": Refused(
        lambda _: pd.DataFrame({"d": objects(self_containing_dict())}),
        FRAME, "d", 0, "object", f"row 0 {TOO_DEEP}", id_refuses=True),
    "lists nested 40 deep": Refused(
        lambda _: pd.DataFrame({"a": [1], "l": objects(nested_list(40))}),
        FRAME, "l", 1, "object", f"row 0 {TOO_DEEP}", id_refuses=True),
    "a 33-dimensional array cell": Refused(
        lambda _: pd.DataFrame({"m": objects(np.zeros((1,) * 33))}),
        FRAME, "m", 0, "object", f"row 0 {TOO_DEEP}", id_refuses=True),
    "an object() label": Refused(
        lambda _: pd.DataFrame([[1, 2]], columns=pd.Index(["a", AN_OBJECT], dtype=object)),
        FRAME, AN_OBJECT, 1, "int64", f"its label holds a value of type object, {NO_FORM}", id_refuses=True),
    "categories without a stable form": Refused(
        lambda _: pd.DataFrame({"c": pd.Categorical([object()])}),
        FRAME, "c", 0, "category", NO_FORM, id_refuses=True),
    # polars
    "polars Object": Refused(
        lambda _: pl.DataFrame({"i": [1, 2], "o": pl.Series([object(), 3], dtype=pl.Object)}),
        POLARS, "o", 1, "polars Object", "polars exports only their addresses", id_refuses=True),
    "polars Int128 in a list": Refused(
        lambda _: pl.DataFrame({"l": pl.Series([[1, 2**100]], dtype=pl.List(pl.Int128))}),
        POLARS, "l", 0, "polars List(Int128)", "128-bit integers inside a nested column", id_refuses=True),
    # text that is not UTF-8 (Arrow's readers do not check)
    "table text not UTF-8": Refused(
        lambda _: pa.table({"n": [1, 2, 3], "s": not_utf8(b"ok", None, b"\xff\xfe")}),
        TABLE, "s", 1, "string", f"row 2 {BAD_TEXT}"),
    "large_string not UTF-8": Refused(
        lambda _: pa.table({"s": not_utf8(b"\xc3", large=True)}),
        TABLE, "s", 0, "large_string", f"row 0 {BAD_TEXT}"),
    "string_view not UTF-8": Refused(
        lambda _: pa.table({"s": pa.array([b"ok", b"\xed\xa0\x80"], pa.binary_view()).view(pa.string_view())}),
        TABLE, "s", 0, "string_view", f"row 1 {BAD_TEXT}"),
    "list of text not UTF-8": Refused(
        lambda _: pa.table({"l": pa.ListArray.from_arrays([0, 1, 2], not_utf8(b"a", b"\x80"))}),
        TABLE, "l", 0, "list<item: string>", "holds invalid data (List child array invalid"),
    "Parquet text not UTF-8": Refused(
        _parquet(pa.table({"id": range(4), "s": not_utf8(b"a", b"b", b"\xff", None)}), use_dictionary=False),
        "{path}", "s", 1, "string", f"row 2 {BAD_TEXT}"),
    "Parquet dictionary text not UTF-8": Refused(
        _parquet(pa.table({"s": not_utf8(*[b"a", b"b", b"\xc0\xaf"] * 100)})),
        "{path}", "s", 0, "string", f"row 2 {BAD_TEXT}"),
    "Parquet text not UTF-8 in a later row group": Refused(
        _parquet(pa.table({"s": not_utf8(*[b"fine"] * 80_000 + [b"\xfe"] + [b"fine"] * 9_999)}),
                 row_group_size=50_000, use_dictionary=False),
        "{path}", "s", 0, "string", f"row 80000 {BAD_TEXT}"),
    "JSON lines text not UTF-8": Refused(
        _jsonl(b'{"a": "fine"}\n{"a": "\xff"}\n'),
        "{path}", "a", 0, "string", f"row 1 {BAD_TEXT}"),
    # Arrow types no bundle can store
    "an Arrow type nested 40 deep": Refused(
        lambda _: pa.table({"deep": pa.nulls(2, _deep_type(40))}),
        TABLE, "deep", 0, "list<item: list<item:", "nests more than 32 levels of lists"),
}  # fmt: skip


def _deep_type(levels: int) -> pa.DataType:
    t = pa.int64()
    for _ in range(levels):
        t = pa.list_(t)
    return t


def _failure(call: Callable[[], Any]) -> BaseException:
    try:
        quietly(call)
    except BaseException as exc:  # noqa: BLE001 - what is raised is the subject of the test
        return exc
    raise AssertionError("no error raised")


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_column_no_bundle_can_hold_is_refused_naming_it(name: str, tmp_path: Path, capfd) -> None:
    case = REFUSED[name]
    source = case.make(tmp_path)
    shown = case.source.format(path=source)
    store = store_with_one_bundle(tmp_path / "store")
    calls = {
        "build with an id": lambda: ba.build_bundle(source, data_id="given"),
        "build": lambda: ba.build_bundle(source),
        "ensure_bundle": lambda: ensure_bundle(store, source, dataset="hostile"),
    }
    if case.id_refuses:
        calls["data_id_for"] = lambda: ba.data_id_for(source)
    else:
        assert quietly(lambda: ba.data_id_for(source))  # content has an identity all the same
    errors = {call: _failure(run) for call, run in calls.items()}
    want = f"{shown}: column {case.label!r} at position {case.position} ({case.column_type}"
    for call, error in errors.items():
        assert isinstance(error, ba.UnsupportedColumnError), (call, error)
        assert isinstance(error, DOCUMENTED)
        assert str(error).startswith(want), (call, str(error))
        assert case.problem in str(error), (call, str(error))
        assert (error.source, error.position) == (shown, case.position)
        assert error.column is case.label or error.column == case.label
    if name != "categories without a stable form":  # the id names the category, the build the row
        assert len({str(e) for e in errors.values()}) == 1, errors  # one error, however reached
    assert capfd.readouterr().err == ""
    assert_no_leak(store)


@pytest.mark.parametrize("kind", ["surrogate", "object()"])
def test_an_index_without_a_stable_form_is_named_by_its_level(kind: str, tmp_path: Path, capfd) -> None:
    """data_ids hash the index (a build only counts its rows): the level is named."""
    odd = "\ud800" if kind == "surrogate" else AN_OBJECT
    frame = pd.DataFrame({"v": [1, 2]}, index=pd.Index(["ok", odd], dtype=object, name="key"))
    if kind == "surrogate":  # text with a lone surrogate has a stable form: hashed, not refused
        assert quietly(lambda: ba.data_id_for(frame)).startswith("pandas-")
    else:
        error = _failure(lambda: ba.data_id_for(frame))
        assert isinstance(error, ba.UnsupportedColumnError)
        assert str(error).startswith("pandas DataFrame: index level 0 named 'key' (object): row 1 holds")
        assert error.position is None
    assert quietly(lambda: ba.build_bundle(frame, data_id="indexed")).rows == 2
    assert capfd.readouterr().err == ""


# ---------------------------------------------------------------- damaged files, naming the file


def _truncated_parquet(folder: Path) -> str:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": range(1_000)}), buffer)
    path = folder / "truncated.parquet"
    path.write_bytes(buffer.getvalue()[:-100])
    return str(path)


def _corrupt_page_parquet(folder: Path) -> str:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": range(1_000), "s": [str(i) for i in range(1_000)]}), buffer)
    data = bytearray(buffer.getvalue())
    data[200:260] = bytes(60)  # inside the first column's data page
    path = folder / "corrupt.parquet"
    path.write_bytes(bytes(data))
    return str(path)


def _file(name: str, data: bytes) -> Callable[[Path], str]:
    def write(folder: Path) -> str:
        path = folder / name
        path.write_bytes(data)
        return str(path)

    return write


DAMAGED = {
    "truncated Parquet": (_truncated_parquet, "Parquet magic bytes not found"),
    "a corrupt Parquet page": (_corrupt_page_parquet, "Corrupt snappy compressed data"),
    "an empty Parquet file": (_file("empty.parquet", b""), "Parquet file size is 0"),
    "a ragged CSV": (_file("ragged.csv", b"a,b\n1,2\n3\n"), "Expected 2 columns, got 1"),
    "a CSV header not UTF-8": (_file("header.csv", b"\xff\xfe,b\n1,2\n"), "can't decode byte 0xff"),
    "a .gz that is not gzip": (_file("fake.csv.gz", b"not gzip at all"), "Not a gzipped file"),
    "malformed JSON lines": (_file("bad.jsonl", b'{"a": 1}\n{not json\n'), "JSON parse error"),
    "JSON lines changing type": (_file("drift.jsonl", b'{"a": 1}\n{"a": "x"}\n'), "changed from number to string"),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_file_is_unreadable_naming_it(name: str, tmp_path: Path, capfd) -> None:
    make, reason = DAMAGED[name]
    path = make(tmp_path)
    store = store_with_one_bundle(tmp_path / "store")
    assert quietly(lambda: ba.data_id_for(path)).startswith("file-")  # the bytes are hashed as they are
    for call in (lambda: ba.build_bundle(path), lambda: ensure_bundle(store, path, dataset="damaged")):
        error = _failure(call)
        assert isinstance(error, UnreadableSourceError) and isinstance(error, DOCUMENTED)
        assert isinstance(error, ba.UnsupportedSourceError) and isinstance(error, ValueError)
        assert str(error).startswith(f"{path}: cannot be read: ") and reason in str(error), str(error)
        assert error.__cause__ is not None
    assert capfd.readouterr().err == ""
    assert_no_leak(store)


# ---------------------------------------------------------------- summarised exactly


def publish(source: Any, tmp_path: Path, capfd) -> ba.Bundle:
    """The producer path on ``source``, then a load and a page: the stored bundle, as read back."""
    store = store_with_one_bundle(tmp_path / "store")
    published = quietly(lambda: ensure_bundle(store, source, dataset="adv"))
    again = quietly(lambda: ba.load_bundle(dataset="adv", store=store, cache=False))
    assert codec.dumps(again.stats) == codec.dumps(published.bundle.stats)
    window, stored = published.bundle.first_window, again.first_window
    assert (stored.schema, stored.num_rows) == (window.schema, window.num_rows)
    quietly(lambda: again.to_html(tmp_path / "page.html"))
    assert capfd.readouterr().err == ""
    assert_no_leak(store, bundles=2)
    return again


@pytest.mark.parametrize("dtype", [pl.Int128, pl.UInt128])
def test_polars_128_bit_integers_are_summarised_exactly(dtype: Any, tmp_path: Path, capfd) -> None:
    values = [1, 2**126, 2**126, None] + ([-(2**127)] if dtype == pl.Int128 else [2**128 - 1])
    frame = pl.DataFrame({"n": [0, 1, 2, 3, 4], "wide": pl.Series(values, dtype=dtype)})
    stats = publish(frame, tmp_path, capfd).stats["b"]
    present = [v for v in values if v is not None]
    assert (stats["min"], stats["max"]) == (min(present), max(present))
    assert (stats["sum"], stats["distinct_count"], stats["most_freq"]) == (sum(present), 3, 2**126)
    assert stats["note"] == f"polars {dtype()}: summarised as decimal256(39, 0)"
    assert ba.data_id_for(frame) == ba.data_id_for(frame.clone())


def test_pandas_integers_beyond_64_bits_are_summarised_exactly(tmp_path: Path, capfd) -> None:
    values = [2**70, -(2**64), 2**64, 2**70, None, np.uint64(2**64 - 1)]
    frame = pd.DataFrame({"big": objects(*values)})
    stats = publish(frame, tmp_path, capfd).stats["a"]
    present = [int(v) for v in values if v is not None]
    assert (stats["min"], stats["max"], stats["sum"]) == (min(present), max(present), sum(present))
    assert (stats["null_count"], stats["distinct_count"], stats["most_freq"]) == (1, 4, 2**70)
    assert stats["note"] == "integers beyond 64 bits: summarised as decimal256(76, 0)"
    assert stats["dtype"] == "object"


UNKNOWN_ZONES = {
    "top level": lambda: pa.array([10**15, -(10**15), None, 0], MARS),
    "nanoseconds": lambda: pa.array([1, 2**62, None], pa.timestamp("ns", tz="Mars/Olympus")),
    "beyond year 9999": lambda: pa.array([2**62, 0], MARS),
    "dictionary-encoded": lambda: pa.array([5, 5, None], MARS).dictionary_encode(),
    "in a struct": lambda: pa.array([{"at": 1}, None, {"at": None}], pa.struct([("at", MARS)])),
    "in a list": lambda: pa.array([[1, None], None, []], pa.list_(MARS)),
    "an offset no database has": lambda: pa.array([1, 2], pa.timestamp("s", tz="+99:99")),
}


@pytest.mark.parametrize("name", sorted(UNKNOWN_ZONES))
@pytest.mark.parametrize("via", ["table", "parquet"])
def test_timestamps_in_an_unknown_zone_are_shown_in_utc(name: str, via: str, tmp_path: Path, capfd) -> None:
    """The values are UTC instants and the zone only a label: summarised exactly, noted."""
    array = UNKNOWN_ZONES[name]()
    table = pa.table({"at": array})
    source: Any = table
    if via == "parquet":
        source = str(tmp_path / "zones.parquet")
        pq.write_table(table, source)
    stats = publish(source, tmp_path, capfd).stats["a"]
    kept = str(pq.read_schema(source).field(0).type if via == "parquet" else array.type)
    if "Mars/Olympus" in kept or "+99:99" in kept:  # Parquet stores a dictionary's zone as UTC
        assert stats["note"].endswith("unknown here: shown in UTC") and "tz=UTC" in stats["arrow_type"]
    plain = array.dictionary_decode() if pa.types.is_dictionary(array.type) else array
    if pa.types.is_timestamp(plain.type):  # exact: the same instants, only shown in UTC
        utc = pa.timestamp(plain.type.unit, tz="UTC")
        ticks = plain.drop_null().view(pa.int64()).to_pylist()
        for stat, want in (("min", min(ticks)), ("max", max(ticks))):
            got = stats[stat] if isinstance(stats[stat], pa.Scalar) else pa.scalar(stats[stat], utc)
            assert got.cast(utc).value == want, (stat, got, want)


def test_a_stored_datetime_in_a_zone_this_machine_lacks_still_decodes() -> None:
    """tzdata differs between machines: the offset written beside the zone keeps it exact."""
    raw = b'{"$datetime":{"iso":"2024-06-01T12:00:00+05:45","zone":"Mars/Olympus"}}'
    value = codec.loads(raw)
    assert value.utcoffset() == dt.timedelta(hours=5, minutes=45) and value.tzname() == "Mars/Olympus"
    assert value == dt.datetime(2024, 6, 1, 6, 15, tzinfo=dt.UTC)
    assert codec.loads(codec.dumps(value)) == value


SUMMARISED = {
    "a dictionary holding a null": (
        lambda: pa.table({"d": pa.DictionaryArray.from_arrays(pa.array([0, 1, 1, None]), pa.array(["x", None]))}),
        {"null_count": 3, "distinct_count": 1, "most_freq": "x"}),
    "a dictionary of ints holding a null": (
        lambda: pa.table({"d": pa.DictionaryArray.from_arrays(pa.array([0, 1, 0]), pa.array([7, None]))}),
        {"null_count": 1, "distinct_count": 1, "min": 7}),
    "a dictionary of bools": (
        lambda: pa.table({"d": pa.array([True, False, True, None]).dictionary_encode()}),
        {"null_count": 1, "distinct_count": 2, "most_freq": True}),
    "a dictionary repeating a value": (
        lambda: pa.table({"d": pa.DictionaryArray.from_arrays(pa.array([0, 1, 0]), pa.array(["a", "a"]))}),
        {"distinct_count": 1, "most_freq": "a", "unique_count": 0}),
    "decimals Arrow cannot hold": (
        lambda: pd.DataFrame({"d": objects(decimal.Decimal("Infinity"), decimal.Decimal("1.5"), None)}),
        {"null_count": 1, "min": "1.5", "max": "Infinity",
         "note": "decimal.Decimal values Arrow cannot type: summarised as text"}),
    "big ints beside text": (
        lambda: pd.DataFrame({"m": objects(2**70, "x", None)}),
        {"distinct_count": 2, "max": "x", "note": "mixed types: summarised as text"}),
    "enum labels": (
        lambda: pd.DataFrame([[1, 2]], columns=pd.Index([Colour.RED, Colour.BLUE], dtype=object)),
        {"orig_col_name": "Colour.RED", "note": "label Colour stored as its text"}),
    "a label with a lone surrogate": (
        lambda: pd.DataFrame([[1]], columns=pd.Index(["a\ud800"], dtype=object)),
        {"orig_col_name": "a\\ud800", "note": "label with lone surrogates stored with them escaped"}),
    "NaN only": (lambda: pa.table({"f": [float("nan")] * 3}), {"null_count": 3, "distinct_count": 0, "mean": None}),
    "infinities": (
        lambda: pa.table({"f": [float("inf"), float("-inf"), 1.0, float("inf")]}),
        {"min": float("-inf"), "max": float("inf"), "most_freq": float("inf"), "distinct_count": 3}),
    "signed zeros": (lambda: pa.table({"f": [-0.0, 0.0, -0.0]}), {"distinct_count": 1, "sum": 0.0}),
    "empty strings beside nulls": (
        lambda: pa.table({"s": ["", None, "", "a"]}),
        {"empty_count": 2, "null_count": 1, "distinct_count": 2, "most_freq": ""}),
    "categorical with unused categories": (
        lambda: pd.DataFrame({"c": pd.Categorical(["a", "a", None], categories=["a", "b", "c"])}),
        {"distinct_count": 1, "null_count": 1, "most_freq": "a"}),
    "tz-aware pandas across a DST change": (
        lambda: pd.DataFrame({"t": pd.date_range("2024-03-31 00:30", periods=5, freq="30min", tz="Europe/Paris")}),
        {"distinct_count": 5, "dtype": "datetime64[us, Europe/Paris]"}),
    "duplicate and non-string labels": (
        lambda: pd.DataFrame([[1, 2, 3, 4]], columns=pd.Index(["x", "x", 0, (1, "a")], dtype=object)),
        {"orig_col_name": "x", "min": 1}),
    "zero rows": (
        lambda: pa.table({"a": pa.array([], pa.int64()), "s": pa.array([], pa.string())}),
        {"length": 0, "distinct_count": 0, "min": None}),
    "a polars frame of zero rows": (lambda: pl.DataFrame({"a": pl.Series([], dtype=pl.Int64)}), {"length": 0}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SUMMARISED))
def test_odd_but_valid_inputs_are_summarised_exactly(name: str, tmp_path: Path, capfd) -> None:
    make, expected = SUMMARISED[name]
    stats = publish(make(), tmp_path, capfd).stats["a"]
    assert {key: stats[key] for key in expected} == expected


def test_a_dictionary_of_string_views_is_counted(tmp_path: Path, capfd) -> None:
    """Arrow has no kernel to take from string views: they are read as plain text."""
    table = pa.table({"s": pa.array(["a", "b", None, "a"], pa.string_view()).dictionary_encode()})
    assert quietly(lambda: ba.data_id_for(table)).startswith("arrow-")
    stats = publish(table, tmp_path, capfd).stats["a"]
    assert (stats["distinct_count"], stats["most_freq"], stats["null_count"]) == (2, "a", 1)


@pytest.mark.parametrize(
    "table",
    [
        pytest.param(pa.table({"b": pa.array([b"", b""], pa.binary(0))}), id="fixed_size_binary(0)"),
        pytest.param(pa.table({"d": pa.array([decimal.Decimal("1E+5")], pa.decimal128(5, -3))}), id="negative scale"),
    ],
)
def test_types_parquet_cannot_hold_are_stored(table: pa.Table, tmp_path: Path) -> None:
    bundle = ba.build_bundle(table, data_id="odd")
    store = ba.BundleStore(tmp_path / "store")
    store.put(bundle)
    assert ba.load_bundle("odd", store=store, cache=False).first_window.equals(table)


# ---------------------------------------------------------------- a full or read-only disk


class FullDisk(LocalFileSystem):
    """A local disk with room for ``room`` more objects; after that, as on a full disk, a
    file is created but its bytes go nowhere: they are written to /dev/full, whose writes
    the kernel refuses with ENOSPC."""

    cachable = False

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, **kwargs: Any) -> Any:
        if "w" in mode:
            if self.room == 0:
                Path(path).touch()
                return LocalFileOpener("/dev/full", mode, fs=self, **kwargs)
            self.room -= 1
        return super()._open(path, mode, block_size=block_size, **kwargs)


# The objects a put writes with bytes in them, and how many objects come before each: the
# listing entry (third, after the manifest) is empty, so a full disk does not refuse it.
PUT_WRITES = {"pack-": 0, "manifest.json": 1, "bundles/full/latest.json": 3, "datasets/full/config-": 4, "datasets/full/latest.json": 5}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("refused", list(PUT_WRITES))
def test_a_disk_filling_up_during_a_put_names_the_object_and_leaves_nothing(refused: str, tmp_path: Path, capfd) -> None:
    room = PUT_WRITES[refused]
    store = store_with_one_bundle(tmp_path / "store")
    store.fs = FullDisk(room)
    store.files = ObjectFiles(store.fs)
    bundle = ba.build_bundle(pa.table({"x": np.arange(1_000)}), data_id="full")
    with pytest.raises(ba.StoreUnavailable) as caught:
        store.put(bundle, dataset="full")
    error = caught.value
    assert isinstance(error, OSError) and isinstance(error, DOCUMENTED)
    assert str(error).startswith(f"cannot write {store.root}/v1/") and refused in str(error)
    assert "[Errno 28] No space left on device" in str(error) and error.__cause__.errno == 28
    assert capfd.readouterr().err == ""
    files = [p.name for p in Path(store.root).rglob("*") if p.is_file()]
    assert [name for name in files if TEMP_MARK in name] == []
    published = room >= 2  # the manifest is the commit point
    if room == 1:
        # The pack is written, the manifest is not: within the grace period the pack is
        # taken for a write in progress; past it, gc collects it.
        assert store.verify() == VerifyReport(checked=1)
        assert [Path(p).name[:5] for p in store.verify(grace=ZERO).orphans] == ["pack-"]
        assert [Path(p).name[:5] for p in store.gc(keep_latest=1, grace=ZERO).removed_files] == ["pack-"]
    assert_no_leak(store, bundles=1 + published)
    store.fs = LocalFileSystem()
    store.files = ObjectFiles(store.fs)
    store.put(bundle, dataset="full")  # with room again, the same put completes
    assert_no_leak(store, bundles=2)


_ON_A_TINY_DISK = """
import json, subprocess, sys
from pathlib import Path
import numpy as np, pyarrow as pa
import buckaroo_assets as ba
from datetime import timedelta

disk = Path(sys.argv[1])
store = ba.BundleStore(str(disk / "store"))
store.put(ba.build_bundle(pa.table({"x": np.arange(10)}), data_id="small"), dataset="small")
rng = np.random.default_rng(0)
wide = pa.table({f"c{i}": [rng.bytes(32).hex() for _ in range(1_000)] for i in range(8)})
seen = {}


def attempt(name, table):
    try:
        store.put(ba.build_bundle(table, data_id=name), dataset=name)
        seen[name] = None
    except ba.StoreUnavailable as exc:
        seen[name] = [str(exc), exc.__cause__.errno, isinstance(exc, OSError)]
    seen[name + " files"] = sorted(p.name for p in disk.rglob("*") if p.is_file())
    report = store.verify(grace=timedelta(0))
    seen[name + " verify"] = [report.checked, len(report.damaged), len(report.orphans)]


attempt("wide", wide)  # its pack is larger than the whole disk
subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
attempt("late", pa.table({"x": [1]}))
seen["small rows"] = ba.load_bundle(dataset="small", store=store, cache=False).rows
print(json.dumps(seen))
"""


def _user_namespaces() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "-rm", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _user_namespaces(), reason="needs user namespaces (unshare -rm) to mount a tiny disk")
def test_a_real_full_disk_then_a_read_only_one(tmp_path: Path) -> None:
    """A 64 KiB tmpfs, in a private mount namespace (no root needed): the kernel's own ENOSPC,
    then EROFS once remounted read-only. Each put names the object; nothing is left behind
    and the bundle stored before stays readable."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = tmp_path / "tiny_disk.py"
    script.write_text(_ON_A_TINY_DISK)
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$1" && exec "$2" "$3" "$1"',
         "_", str(disk), sys.executable, str(script)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
    seen = json.loads(done.stdout)
    for name, errno, reason in (("wide", 28, "No space left on device"), ("late", 30, "Read-only file system")):
        message, cause, is_os_error = seen[name]
        assert message.startswith(f"cannot write {disk}/store/v1/bundles/{name}/") and "/pack-" in message
        assert reason in message and (cause, is_os_error) == (errno, True)
        assert not any(TEMP_MARK in f for f in seen[f"{name} files"]), seen[f"{name} files"]
        assert seen[f"{name} verify"] == [1, 0, 0]  # the first bundle, intact; no leftovers
    assert seen["small rows"] == 10

