"""Temporal values beyond Python's datetime: summarised exactly, stored, shown, never an OverflowError."""

from __future__ import annotations

import pyarrow as pa
import pytest

import buckaroo_assets as ba
from buckaroo_assets.cli import main

EXTREMES = {
    # The "valid to" placeholder of warehouse tables, east of UTC: year 10000 locally.
    "max timestamp east of UTC": pa.array(
        [253402300799_000000, 0, None], pa.timestamp("us", tz="Asia/Tokyo")
    ),
    "timestamps beyond year 9999": pa.array([2**62, -(2**62), 0], pa.timestamp("us")),
    "date32 at its maximum": pa.array([2**31 - 1, 0, -(2**31)], pa.date32()),
    "nanosecond timestamps far out": pa.array([2**63 - 1, -(2**63) + 1], pa.timestamp("ns")),
    "huge durations": pa.array([2**62, -(2**62), 1], pa.duration("us")),
}


@pytest.mark.parametrize("name", sorted(EXTREMES))
def test_extreme_temporal_values_round_trip_and_render(name: str, tmp_path, capsys) -> None:
    array = EXTREMES[name]
    bundle = ba.build_bundle(pa.table({"t": array}), data_id="extreme")
    stats = bundle.stats["a"]
    ticks = array.drop_null().view(pa.int32() if array.type.bit_width == 32 else pa.int64())
    # Exact, whichever Python-or-Arrow form they come back in: compare the underlying ticks.
    for stat, want in (("min", min(ticks.to_pylist())), ("max", max(ticks.to_pylist()))):
        got = stats[stat]
        got = got if isinstance(got, pa.Scalar) else pa.scalar(got, type=array.type)
        assert got.cast(array.type).value == want, (stat, got, want)
    store = ba.BundleStore(tmp_path / "store")
    store.put(bundle, dataset="extreme")
    again = ba.load_bundle(dataset="extreme", store=store, cache=False)
    assert again.stats == bundle.stats
    for embed in ("DFViewer", "Buckaroo"):
        again.to_buckaroo_artifact(embed)
    page = again.to_html(tmp_path / "page.html")
    assert page.stat().st_size > 1000
    assert main(["show", "--dataset", "extreme", "--store", str(tmp_path / "store"), "--rows", "3"]) == 0
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("width", [32, 64])
def test_narrow_decimals_are_summarised_exactly(width: int, tmp_path) -> None:
    from decimal import Decimal

    values = [Decimal("1.25"), None, Decimal("-3.50"), Decimal("1.25"), Decimal("0.01")]
    decimal_type = pa.decimal32(7, 2) if width == 32 else pa.decimal64(15, 2)
    bundle = ba.build_bundle(pa.table({"d": pa.array(values, decimal_type)}), data_id="narrow")
    stats = bundle.stats["a"]
    present = [v for v in values if v is not None]
    assert (stats["min"], stats["max"], stats["sum"]) == (min(present), max(present), sum(present))
    assert (stats["distinct_count"], stats["null_count"], stats["most_freq"]) == (3, 1, Decimal("1.25"))
    assert bundle.first_window.schema.field(0).type == decimal_type  # the window keeps the type
    ba.BundleStore(tmp_path / "s").put(bundle)


def test_intervals_are_counted_and_kept(tmp_path) -> None:
    array = pa.array([pa.MonthDayNano([1, 2, 3]), None, pa.MonthDayNano([0, 0, 1])], pa.month_day_nano_interval())
    bundle = ba.build_bundle(pa.table({"i": array}), data_id="interval")
    stats = bundle.stats["a"]
    assert (stats["length"], stats["null_count"], stats["distinct_count"]) == (3, 1, None)
    ba.BundleStore(tmp_path / "s").put(bundle)
    bundle.to_buckaroo_artifact("Buckaroo")
