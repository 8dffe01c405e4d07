"""Buckaroo artifacts from bundles: decoded back and compared with the bundle and with Buckaroo."""

import base64
import datetime as dt
import decimal
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import buckaroo_assets as ba
from buckaroo_assets.errors import ViewerUnavailable
from buckaroo_assets.viewer.artifact import SUMMARY_ROWS


def decode(envelope: dict[str, Any]) -> pa.Table:
    assert envelope["format"] == "parquet_b64"
    return pq.read_table(io.BytesIO(base64.b64decode(envelope["data"])))


def pivot(envelope: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Wide stats as the viewer reads them: stat -> column key -> JSON-parsed value."""
    assert envelope["layout"] == "wide"
    (row,) = decode(envelope).to_pylist()
    out: dict[str, dict[str, Any]] = {}
    for name, value in row.items():
        key, stat = name.split("__", 1)
        out.setdefault(stat, {})[key] = json.loads(value) if isinstance(value, str) else value
    return out


def small_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 300
    return pd.DataFrame(
        {
            "price": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n)),
            "qty": rng.integers(0, 500, n),
            "city": rng.choice(["Oslo", "Lima", "Pune", "Kobe"], n),
            "ok": rng.random(n) < 0.3,
            "seen": pd.Timestamp("2024-03-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
        }
    )


@pytest.fixture(scope="module")
def bundle() -> ba.Bundle:
    return ba.build_bundle(small_frame())


@pytest.mark.parametrize("embed_type", ["DFViewer", "Buckaroo"])
def test_rows_are_the_first_window_under_buckaroo_keys(bundle: ba.Bundle, embed_type: str) -> None:
    artifact = bundle.to_buckaroo_artifact(embed_type)
    rows = decode(artifact["df_data"])
    assert rows.column_names == [*bundle.stats, "index", "level_0"]
    window = bundle.first_window
    for key, name in zip(bundle.stats, window.column_names, strict=True):
        assert rows[key].to_pylist() == window[name].to_pylist(), key
    assert rows["index"].to_pylist() == list(range(window.num_rows)) == rows["level_0"].to_pylist()
    assert artifact["df_data"]["json_columns"] == []


def test_summary_stats_match_the_bundle(bundle: ba.Bundle) -> None:
    stats = pivot(bundle.to_buckaroo_artifact()["summary_stats_data"])
    assert set(SUMMARY_ROWS) <= set(stats)
    for key, entry in bundle.stats.items():
        for stat in ("dtype", "null_count", "non_null_count", "distinct_count", "unique_count"):
            assert stats[stat][key] == entry[stat], (key, stat)
        assert stats["histogram"][key] == entry["histogram"]
        assert stats["histogram_bins"][key] == entry["histogram_bins"]
    price, city = "a", "c"
    for stat in ("mean", "std", "min", "max", "median"):
        assert stats[stat][price] == pytest.approx(bundle.stats[price][stat])
        assert stats[stat][city] is None  # as Buckaroo: numeric stats only for numbers
    # timestamps: ISO 8601 with the zone, and their range (not their mean) is shown
    when = bundle.stats["e"]
    assert stats["most_freq"]["e"] == when["most_freq"].isoformat()
    assert (stats["min"]["e"], stats["max"]["e"]) == (when["min"].isoformat(), when["max"].isoformat())
    assert stats["mean"]["e"] is None


def test_same_stats_headers_and_pinned_rows_as_buckaroos_own_artifact(bundle: ba.Bundle) -> None:
    """Buckaroo computes these itself here (300 rows: below its sampling thresholds)."""
    from buckaroo.artifact import prepare_buckaroo_artifact

    df = small_frame()
    for embed_type in ("DFViewer", "Buckaroo"):
        theirs = prepare_buckaroo_artifact(df, embed_type=embed_type)
        ours = bundle.to_buckaroo_artifact(embed_type)

        def headers(a: dict[str, Any]) -> list[tuple[str, str]]:
            cols = a["df_viewer_config"]["column_config"]
            return [(c["col_name"], c["header_name"]) for c in cols]

        def pinned(config: dict[str, Any]) -> list[str]:
            return [r["primary_key_val"] for r in config["pinned_rows"]]

        assert headers(ours) == headers(theirs)
        assert pinned(ours["df_viewer_config"]) == pinned(theirs["df_viewer_config"])
        if embed_type == "Buckaroo":
            for view in ("main", "summary", "dfviewer_special"):
                ours_view = ours["df_display_args"][view]
                theirs_view = theirs["df_display_args"][view]
                assert pinned(ours_view["df_viewer_config"]) == pinned(theirs_view["df_viewer_config"])
                assert ours_view["data_key"] == theirs_view["data_key"]
            assert set(ours["df_data_dict"]) == set(theirs["df_data_dict"])
            assert set(ours["df_meta"]) == set(theirs["df_meta"])
        their_stats = pivot(theirs["summary_stats_data"])
        our_stats = pivot(ours["summary_stats_data"])
        assert set(our_stats) >= set(their_stats) - {"histogram_log_bins"}
        for key in ("a", "b"):  # exact numeric stats agree with Buckaroo's pandas pipeline
            for stat in ("null_count", "non_null_count", "distinct_count", "unique_count"):
                assert our_stats[stat][key] == their_stats[stat][key], (key, stat)
            for stat in ("mean", "std", "min", "max", "median"):
                assert our_stats[stat][key] == pytest.approx(their_stats[stat][key]), (key, stat)
        for key in ("c", "d"):
            for stat in ("null_count", "distinct_count", "unique_count", "most_freq"):
                assert our_stats[stat][key] == their_stats[stat][key], (key, stat)


def test_display_knobs_shape_the_page_but_never_the_bundle(bundle: ba.Bundle) -> None:
    config_id = bundle.config_id
    artifact = bundle.to_buckaroo_artifact(
        pinned_rows=["dtype", "mean"],
        extra_pinned_rows=["sum", "histogram"],
        column_config_overrides={"price": {"displayer_args": {"max_fraction_digits": 1}}},
        rows=5,
    )
    config = artifact["df_viewer_config"]
    assert [r["primary_key_val"] for r in config["pinned_rows"]] == ["dtype", "mean", "sum", "histogram"]
    price = config["column_config"][0]
    assert price["header_name"] == "price" and price["displayer_args"]["max_fraction_digits"] == 1
    assert all(c["ag_grid_specs"]["minWidth"] >= 100 for c in config["column_config"])  # histogram
    assert decode(artifact["df_data"]).num_rows == 5
    assert "a__sum" in decode(artifact["summary_stats_data"]).column_names
    assert bundle.config_id == config_id and bundle.first_window.num_rows == 300
    with pytest.raises(ValueError, match="no such stat"):
        bundle.to_buckaroo_artifact(pinned_rows=["dtype", "nonsense"])
    with pytest.raises(KeyError, match="no column labelled"):
        bundle.to_buckaroo_artifact(column_config_overrides={"nope": {}})
    with pytest.raises(ValueError, match="embed_type"):
        bundle.to_buckaroo_artifact("Spreadsheet")
    with pytest.raises(TypeError):
        bundle.to_buckaroo_artifact(colour="red")


def test_every_arrow_type_becomes_something_the_viewer_decodes() -> None:
    table = pa.table(
        {
            "u64": pa.array([2**64 - 1, 0, None], pa.uint64()),
            "f16": pa.array([np.float16(1.5), None, np.float16(-2)], pa.float16()),
            "dec": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.5")], pa.decimal128(6, 2)),
            "day": pa.array([dt.date(2024, 1, 2), None, dt.date(1999, 12, 31)]),
            "clock": pa.array([dt.time(1, 2, 3), None, dt.time(23, 59)]),
            "span": pa.array([dt.timedelta(days=1, seconds=3723, microseconds=500000), None, dt.timedelta(seconds=-5)]),
            "ns": pa.array([1, None, 2**62], pa.timestamp("ns", "Asia/Tokyo")),
            "raw": pa.array([b"\x00\xff", None, b""]),
            "tags": pa.array([["a", "b"], None, []]),
            "point": pa.array([{"x": 1, "y": "q"}, None, {"x": 2, "y": None}]),
            "kv": pa.array([[("k", 1)], None, []], pa.map_(pa.string(), pa.int64())),
            "cat": pa.array(["x", None, "x"]).dictionary_encode(),
            "nothing": pa.nulls(3),
            "long": pa.array(["y" * 50_000, "short", None]),
        }
    )
    bundle = ba.build_bundle(table)
    artifact = bundle.to_buckaroo_artifact(max_cell_chars=100)
    rows = decode(artifact["df_data"]).to_pydict()
    key = {entry["orig_col_name"]: k for k, entry in bundle.stats.items()}
    assert rows[key["u64"]] == [2**64 - 1, 0, None]
    assert rows[key["dec"]] == [1.25, None, -3.5]
    assert rows[key["day"]] == ["2024-01-02", None, "1999-12-31"]
    assert rows[key["clock"]] == ["01:02:03", None, "23:59:00"]
    assert rows[key["span"]] == ["P1DT1H2M3.5S", None, "-P0DT0H0M5S"]
    assert rows[key["raw"]] == ['"00ff"', None, '""']
    assert [json.loads(v) if v else v for v in rows[key["point"]]] == [{"x": 1, "y": "q"}, None, {"x": 2, "y": None}]
    assert rows[key["cat"]] == ["x", None, "x"]
    assert rows[key["long"]] == ["y" * 100, "short", None]
    assert set(artifact["df_data"]["json_columns"]) == {key[n] for n in ("raw", "tags", "point", "kv", "nothing")}
    kinds = {c["header_name"]: c["displayer_args"]["displayer"] for c in artifact["df_viewer_config"]["column_config"]}
    assert kinds["ns"] == "datetimeLocaleString" and kinds["span"] == "duration"
    assert kinds["u64"] == kinds["dec"] == "float" and kinds["day"] == "string"
    stats = pivot(artifact["summary_stats_data"])
    assert stats["max"][key["u64"]] == 2**64 - 1
    assert stats["mean"][key["dec"]] == pytest.approx(-1.125)


def test_tuple_and_duplicate_labels_keep_buckaroos_column_paths() -> None:
    df = pd.DataFrame([[1, 2, 3]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y"), ("b", "x")]))
    artifact = ba.build_bundle(df).to_buckaroo_artifact()
    paths = [c.get("col_path") for c in artifact["df_viewer_config"]["column_config"]]
    assert paths == [["a", "x"], ["a", "y"], ["b", "x"]]
    dup = pd.DataFrame([[1, 2]], columns=["same", "same"])
    headers = [c["header_name"] for c in ba.build_bundle(dup).to_buckaroo_artifact()["df_viewer_config"]["column_config"]]
    assert headers == ["same", "same"]


def test_html_pages_escape_data_and_inline_the_viewer(tmp_path: Path) -> None:
    hostile = "</script><script>window.pwned=1</script><!--\u2028"
    bundle = ba.build_bundle(pd.DataFrame({hostile: ["x", "y"]}))
    page = bundle.to_html(tmp_path / "p.html").read_text()
    assert hostile not in page and "window.pwned" in page  # present only as escaped JSON
    data = page.split('<script id="buckaroo-data" type="application/json">', 1)[1]
    artifact = json.loads(data.split("</script>", 1)[0])
    assert artifact["df_viewer_config"]["column_config"][0]["header_name"] == hostile
    assert '<script type="module">' in page and "static-embed.js" not in page.split("<body>")[1][:200]

    (tmp_path / "linked").mkdir()
    linked = bundle.to_html(tmp_path / "linked" / "p.html", self_contained=False)
    assert 'src="./static-embed.js"' in linked.read_text()
    for name in ("static-embed.js", "static-embed.css"):
        assert (tmp_path / "linked" / name).stat().st_size > 1000


def test_a_missing_viewer_package_gives_a_clear_error(tmp_path: Path) -> None:
    """A buckaroo without its viewer files (a broken or foreign install) is found first on the path."""
    fake = tmp_path / "buckaroo"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    code = (
        "import buckaroo_assets as ba, pandas as pd, sys\n"
        "b = ba.build_bundle(pd.DataFrame({'x': [1]}))\n"
        "b.to_buckaroo_artifact()\n"
        "try:\n"
        f"    b.to_html({str(tmp_path / 'p.html')!r})\n"
        "except ba.errors.ViewerUnavailable as e:\n"
        "    print('ERR', e); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(tmp_path)}, capture_output=True, text=True
    )
    assert result.returncode == 3, result.stderr
    assert "pip install -e '.[viewer]'" in result.stdout and "buckaroo>=0.15.11" in result.stdout
    assert not (tmp_path / "p.html").exists()
    assert issubclass(ViewerUnavailable, ImportError)
