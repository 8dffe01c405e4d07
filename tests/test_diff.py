"""``ba.diff``: what changed between two versions, from their bundles alone.

Two versions of a sales table are built for real and published to a local
store.  Every column repeats with a period of 100 rows, so dropping rows from
2,000 to 1,500 keeps each column's proportions: the only changes are the ones
made on purpose (a retyped, a renamed, an added and a removed column, a new
category, a shifted distribution, a jump in nulls).  Expected numbers come
from the tables themselves (numpy, Counter), never from the diff code.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shlex
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import buckaroo_assets as ba
from buckaroo_assets.bundle import codec
from buckaroo_assets.changes import DriftThresholds, previous_and_latest
from buckaroo_assets.changes.distance import Shape, js_distance, shape_distance, shape_of
from buckaroo_assets.cli import main

ROWS_OLD, ROWS_NEW = 2_000, 1_500
DOC = Path(__file__).resolve().parents[1] / "docs" / "diff.md"


def version_one() -> pa.Table:
    i = np.arange(ROWS_OLD) % 100
    return pa.table({
        "price": pa.array(i * 3, pa.int64()),
        "city": pa.array(np.where(i < 40, "a", np.where(i < 70, "b", "c"))),
        "score": pa.array(i / 10),
        "note": pa.array([f"n{k % 5}" for k in i]),
        "region": pa.array(np.array(["north", "south", "east", "west"])[i % 4]),
        "amount": pa.array(i * 1.5 + 0.25),
        "legacy": pa.array([f"x{k}" for k in i]),
    })  # fmt: skip


def version_two() -> pa.Table:
    """Rows dropped, price retyped, a new city, score shifted, nulls in note, amount renamed."""
    i = np.arange(ROWS_NEW) % 100
    return pa.table({
        "price": pa.array(i * 3.0),
        "city": pa.array(np.where(i < 30, "a", np.where(i < 55, "b", np.where(i < 80, "c", "d")))),
        "score": pa.array(i / 10 + 5),
        "note": pa.array([None if k < 20 else f"n{k % 5}" for k in i]),
        "region": pa.array(np.array(["north", "south", "east", "west"])[i % 4]),
        "amount_usd": pa.array(i * 1.5 + 0.25),
        "flag": pa.array(i % 2 == 0),
    })  # fmt: skip


@pytest.fixture(scope="module")
def versions() -> tuple[ba.Bundle, ba.Bundle]:
    return (
        ba.build_bundle(version_one(), data_id="sales-v1"),
        ba.build_bundle(version_two(), data_id="sales-v2"),
    )


@pytest.fixture
def store(tmp_path: Path, versions: tuple[ba.Bundle, ba.Bundle]) -> ba.BundleStore:
    store = ba.BundleStore(tmp_path / "store")
    for bundle in versions:
        store.put(bundle, dataset="sales")
    return store


# ---------------------------------------------------------------- oracles


def js_oracle(p: list[float], q: list[float]) -> float:
    """Jensen–Shannon distance, base 2, straight from its definition."""
    p_, q_ = np.array(p) / sum(p), np.array(q) / sum(q)
    m = (p_ + q_) / 2

    def kl(a: np.ndarray) -> float:
        held = a > 0
        return float(np.sum(a[held] * np.log2(a[held] / m[held])))

    return math.sqrt((kl(p_) + kl(q_)) / 2)


def repeated_top(values: list[Any], k: int = 5) -> list[Any]:
    """The k most frequent values (ties by ascending value) that occur more than once."""
    counts = Counter(v for v in values if v is not None)
    ranked = sorted(counts, key=lambda v: (-counts[v], v))[:k]
    return [v for v in ranked if counts[v] > 1]


def column_values(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist()


# ---------------------------------------------------------------- the diff


def test_known_changes_give_exactly_the_expected_diff(versions: tuple[ba.Bundle, ba.Bundle]) -> None:
    d = ba.diff(*versions)
    old, new = version_one(), version_two()

    assert (d.old.data_id, d.new.data_id) == ("sales-v1", "sales-v2")
    assert (d.rows.old, d.rows.new, d.rows.delta) == (ROWS_OLD, ROWS_NEW, -500)
    assert d.rows.pct_change == -25.0

    schema = d.schema
    assert [(c.name, c.position, c.dtype) for c in schema.added] == [("flag", 6, "bool")]
    assert [(c.name, c.position, c.dtype) for c in schema.removed] == [("legacy", 6, "str")]
    assert [(r.name, r.old_dtype, r.new_dtype) for r in schema.retyped] == [
        ("price", "int64", "float64")
    ]
    assert [(r.position, r.old_name, r.new_name, r.dtype) for r in schema.renamed] == [
        (5, "amount", "amount_usd", "float64")
    ]
    assert not schema.reordered

    assert [c.name for c in d.columns] == ["price", "city", "score", "note", "region", "amount_usd"]
    for col in d.columns:
        before = column_values(old, col.old_name)
        after = column_values(new, col.name)
        present = [v for v in before if v is not None], [v for v in after if v is not None]
        null_pct = [100 * (len(v) - len(p)) / len(v) for v, p in zip((before, after), present, strict=True)]
        assert [col.null_pct.old, col.null_pct.new] == pytest.approx(null_pct)
        assert col.null_pct.delta == pytest.approx(null_pct[1] - null_pct[0])
        assert (col.distinct_count.old, col.distinct_count.new) == tuple(len(set(p)) for p in present)
        assert (col.min.old, col.min.new) == tuple(min(p) for p in present)
        assert (col.max.old, col.max.new) == tuple(max(p) for p in present)
        top = [repeated_top(v) for v in (before, after)]
        assert list(col.top_values.new) == [v for v in top[1] if v not in top[0]]
        assert list(col.top_values.vanished) == [v for v in top[0] if v not in top[1]]
        if col.mean is not None:
            means = [float(np.mean(p)) for p in present]
            stds = [float(np.std(p, ddof=1)) for p in present]
            assert [col.mean.old, col.mean.new] == pytest.approx(means, rel=1e-12)
            assert [col.std.old, col.std.new] == pytest.approx(stds, rel=1e-12)
            assert col.mean.in_std == pytest.approx((means[1] - means[0]) / stds[0], rel=1e-9)
        every = [c for _, c in col.stat_changes()] + [col.top_values, col.distance]
        assert all(part.exact for part in every)
        assert col.not_compared == ()

    city, score = d.column("city"), d.column("score")
    assert city.top_values.new == ("d",) and city.top_values.vanished == ()
    assert city.distance.basis == "labels"
    assert city.distance.value == pytest.approx(js_oracle([40, 30, 30, 0], [30, 25, 25, 20]), abs=1e-12)
    assert score.distance.basis == "bins" and score.distance.value > 0.5
    assert score.mean.delta == pytest.approx(5.0)
    for unchanged in ("price", "note", "region", "amount_usd"):
        assert d.column(unchanged).distance.value == 0.0
    assert not d.column("region").changed
    assert [c.name for c in d.changed_columns] == ["price", "city", "score", "note", "amount_usd"]
    assert not d.is_empty


def test_default_thresholds_cross_exactly_the_changes_made(
    versions: tuple[ba.Bundle, ba.Bundle],
) -> None:
    d = ba.diff(*versions)
    crossed = DriftThresholds().crossed(d)
    assert [(c.check, c.column) for c in crossed] == [
        ("rows_drop", None),
        ("schema", "flag"),
        ("schema", "legacy"),
        ("schema", "price"),
        ("schema", "amount_usd"),
        ("distance", "city"),
        ("distance", "score"),
        ("null_jump", "note"),
    ]
    assert crossed[0].message == "rows fell 2,000 -> 1,500 (-25.0 %), more than 10 %"
    assert crossed[-1].message == "column note: nulls rose 0 % -> 20 % (+20 points), more than 5"
    assert all(str(c) == c.message and c.exact for c in crossed)

    looser = DriftThresholds(rows_drop_pct=25, null_jump_pts=20, schema_change=False, distance=0.75)
    assert looser.crossed(d) == []  # crossing means strictly above the limit
    assert [c.check for c in DriftThresholds.only(distance=0.5).crossed(d)] == ["distance"]
    assert DriftThresholds.only().crossed(d) == []
    with pytest.raises(ValueError, match="distance"):
        DriftThresholds(distance=1.5)
    with pytest.raises(ValueError, match="rows_drop_pct"):
        DriftThresholds(rows_drop_pct=-1)


def test_identical_versions_give_an_empty_diff(versions: tuple[ba.Bundle, ba.Bundle]) -> None:
    chunked = pa.Table.from_batches(version_one().to_batches(max_chunksize=333))
    rebuilt = ba.build_bundle(chunked, data_id="sales-again")
    for d in (ba.diff(versions[0], versions[0]), ba.diff(versions[0], rebuilt)):
        assert d.is_empty
        assert not d.schema.changed and d.rows.delta == 0 and d.changed_columns == ()
        assert all(c.distance.value == 0.0 for c in d.columns)
        assert DriftThresholds.only(
            rows_drop_pct=0, null_jump_pts=0, schema_change=True, distance=0
        ).crossed(d) == []
        assert d.to_json()["is_empty"] is True
        assert "changes  none" in str(d)


def test_sketched_columns_are_marked_not_exact() -> None:
    config = ba.StatsConfig(distinct_threshold=50)
    old = ba.build_bundle(version_one(), data_id="sk-1", config=config)
    new = ba.build_bundle(version_two(), data_id="sk-2", config=config)
    assert old.stats["c"]["distinct_count_exact"] is False  # score: 100 distinct values
    d = ba.diff(old, new)
    score, city = d.column("score"), d.column("city")
    assert not score.distinct_count.exact
    assert not score.top_values.exact and not score.distance.exact
    assert score.null_pct.exact and score.mean.exact and score.min.exact and score.std.exact
    assert city.distinct_count.exact and city.top_values.exact and city.distance.exact
    crossing = next(c for c in DriftThresholds().crossed(d) if c.column == "score")
    assert crossing.check == "distance" and not crossing.exact
    assert "~distance" in str(d) and "marks values from sketched stats" in str(d)
    assert d.to_json()["columns"][2]["distance"]["exact"] is False


def test_across_configs_what_one_bundle_lacks_is_reported_not_compared(
    versions: tuple[ba.Bundle, ba.Bundle],
) -> None:
    config = ba.StatsConfig(skip_columns=["note"], histogram_bins=20, top_k=3)
    other = ba.build_bundle(version_one(), data_id="sales-v1-other", config=config)
    d = ba.diff(versions[0], other)
    assert [(s.name, s.old, s.new) for s in d.settings] == [
        ("histogram_bins", 10, 20), ("top_k", 5, 3), ("skip_columns", (), ("note",)),
    ]  # fmt: skip
    note = d.column("note")
    assert note.null_pct is not None and not note.null_pct.changed
    assert {n.stat for n in note.not_compared} == {
        "distinct_count", "min", "max", "top values", "distance",
    }  # fmt: skip
    assert all("skipped" in n.reason for n in note.not_compared)
    assert not d.column("city").changed  # top values compared over the 3 both hold
    assert d.column("score").distance.value < 0.1  # same data, 10 bins against 20
    assert not d.is_empty and not d.schema.changed and d.rows.delta == 0
    assert "not compared" in str(d) and "stats settings that differ" in str(d)


def test_duplicate_labels_pair_up_in_order() -> None:
    old = ba.build_bundle(pa.table([pa.array([1, 2, 2]), pa.array(["a", "b", "b"])], names=["x", "x"]),
                          data_id="dup-1")  # fmt: skip
    new = ba.build_bundle(pa.table([pa.array([1, 2, 2]), pa.array(["a", "b", "c"])], names=["x", "x"]),
                          data_id="dup-2")  # fmt: skip
    d = ba.diff(old, new)
    assert [(c.old_key, c.new_key, c.changed) for c in d.columns] == [("a", "a", False), ("b", "b", True)]
    assert not d.schema.changed


def test_the_diff_reads_only_the_two_bundles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = []
    for n, table in enumerate((version_one(), version_two()), start=1):
        path = tmp_path / f"sales-{n}.parquet"
        pq.write_table(table, path)
        sources.append(path)
    store = ba.BundleStore(tmp_path / "store")
    ids = [store.put(ba.build_bundle(p)).data_id for p in sources]
    for path in sources:
        path.unlink()
    ba.clear_cache()

    read: list[tuple[str, int]] = []
    fs = store.fs
    original = fs.cat_file

    def recording(path: str, *args: Any, **kwargs: Any) -> bytes:
        data = original(path, *args, **kwargs)
        read.append((path, len(data)))
        return data

    def no_listing(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("diff listed the store")

    monkeypatch.setattr(fs, "cat_file", recording)
    monkeypatch.setattr(fs, "find", no_listing)
    monkeypatch.setattr(fs, "ls", no_listing)
    d = ba.diff(ids[0], ids[1], store=store)
    assert d.rows.old == ROWS_OLD and d.rows.new == ROWS_NEW

    config_id = ba.StatsConfig().config_id
    expected = {store.layout.id_pointer(i) for i in ids}
    for data_id in ids:
        folder = Path(store.layout.bundle_dir(data_id, config_id))
        expected |= {str(p) for p in folder.iterdir() if not p.name.startswith("entry~")}
    assert {p for p, _ in read} == expected
    assert sum(size for _, size in read) == sum(Path(p).stat().st_size for p in expected)


# ---------------------------------------------------------------- renderings


def test_json_is_plain_and_lossless(versions: tuple[ba.Bundle, ba.Bundle]) -> None:
    d = ba.diff(*versions)
    plain = json.loads(json.dumps(d.to_json(), allow_nan=False))
    assert plain == d.to_json()
    assert plain["is_empty"] is False
    assert plain["rows"] == {"old": 2000, "new": 1500, "delta": -500, "pct_change": -25.0}
    assert plain["schema"]["renamed"] == [
        {"position": 5, "old_name": "amount", "new_name": "amount_usd", "dtype": "float64"}
    ]
    city = plain["columns"][1]
    assert city["name"] == "city" and city["top_values"]["new"] == ["d"]
    assert city["distinct_count"] == {
        "old": 3, "new": 4, "delta": 1, "changed": True, "exact": True, "in_std": None,
    }  # fmt: skip

    def one_column(data_id: str, values: list[Any]) -> ba.Bundle:
        return ba.build_bundle(pa.table({"v": pa.array(values)}), data_id=data_id)

    decimals = ba.diff(one_column("d1", [Decimal("1.5")] * 2), one_column("d2", [Decimal("2.5")] * 2))
    mean = json.loads(json.dumps(decimals.to_json(), allow_nan=False))["columns"][0]["mean"]
    assert mean["delta"] == {"$decimal": "1.0"} and codec.decode(mean["new"]) == Decimal("2.5")
    days = [one_column(f"t{n}", [dt.datetime(2026, 1, n)] * 2) for n in (1, 3)]
    delta = ba.diff(*days).to_json()["columns"][0]["min"]["delta"]
    assert codec.decode(delta) == dt.timedelta(days=2)


def test_html_page_is_standalone_and_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    old = ba.build_bundle(pa.table({hostile: pa.array(["<b>x</b>", "y"])}), data_id="h1")
    new = ba.build_bundle(pa.table({hostile: pa.array(["<b>x</b>", "<b>x</b>"])}), data_id="h2")
    d = ba.diff(old, new)
    page = d.to_html(DriftThresholds().crossed(d))
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "http" not in page  # nothing fetched from elsewhere
    assert "thresholds crossed" in page


# ---------------------------------------------------------------- distances


def test_distance_definitions_by_hand() -> None:
    assert js_distance([1, 0], [0, 1]) == 1.0
    assert js_distance([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert js_distance([1, 0], [0.5, 0.5]) == pytest.approx(js_oracle([1, 0], [1, 1]), abs=1e-15)
    halves = Shape("bins", (0.5, 0.5), edges=(0.0, 1.0, 2.0))
    whole = Shape("bins", (1.0,), edges=(0.0, 2.0))
    assert shape_distance(halves, whole) == 0.0  # uniform within a bin: the same mass
    assert shape_distance(Shape("bins", (1.0,), edges=(0.0, 1.0)), Shape("bins", (1.0,), edges=(1.0, 2.0))) == 1.0
    quarter = Shape("bins", (1.0,), edges=(0.0, 4.0))  # a quarter of its mass on [0, 1]
    assert shape_distance(Shape("bins", (1.0,), edges=(0.0, 1.0)), quarter) == pytest.approx(
        js_oracle([1, 0], [1, 3]), abs=1e-15
    )
    with pytest.raises(ValueError, match="bins"):
        shape_distance(halves, Shape("labels", (1.0,), labels=(("value", "a"),)))
    categorical = {"histogram": [{"name": "a", "cat_pop": 60.0}, {"name": "longtail", "longtail": 20.0},
                                 {"name": "NA", "NA": 20.0}]}  # fmt: skip
    assert shape_of(categorical) == Shape("labels", (0.75, 0.25), labels=(("value", "a"), ("longtail", "")))
    with pytest.raises(ValueError, match="edges"):
        shape_of({"histogram": [{"name": "0-1", "population": 100.0}], "histogram_bins": [0.0]})
    assert shape_of({"histogram": [{"name": "NA", "NA": 100.0}]}) is None


def test_a_number_column_retyped_keeps_its_categories() -> None:
    ints = ba.build_bundle(pa.table({"q": [1, 2, 3, 1, 2] * 20}), data_id="q-int")
    floats = ba.build_bundle(pa.table({"q": [1.0, 2.0, 3.0, 1.0, 2.0] * 20}), data_id="q-float")
    texts = ba.build_bundle(pa.table({"q": ["1", "2", "3", "1", "2"] * 20}), data_id="q-text")
    q = ba.diff(ints, floats).column("q")
    assert q.distance.basis == "labels" and q.distance.value == 0.0
    assert not q.top_values.changed and not q.min.changed
    as_text = ba.diff(ints, texts).column("q")  # text is other values, however it spells them
    assert as_text.distance.value == pytest.approx(1.0) and as_text.top_values.new == ("1", "2", "3")


_weights = st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=12).filter(
    lambda w: sum(w) > 0
)


@settings(max_examples=200, deadline=None)
@given(_weights, _weights, st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=13, unique=True),
       st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=13, unique=True))  # fmt: skip
# A subnormal weight whose half underflows to 0 (found by hypothesis): no division by zero.
@example(p=[1.0], q=[1.0, 5e-324], edges_p=[0.0, 1.0], edges_q=[0.0, 1.0, 0.5])
def test_distance_is_bounded_and_symmetric(
    p: list[float], q: list[float], edges_p: list[float], edges_q: list[float]
) -> None:
    def shape(weights: list[float], edges: list[float]) -> Shape:
        edges = sorted(edges)[: len(weights) + 1]
        weights = weights[: len(edges) - 1]
        total = sum(weights) or 1.0
        return Shape("bins", tuple(w / total for w in weights), edges=tuple(edges))

    a, b = shape(p, edges_p), shape(q, edges_q)
    if sum(a.weights) == 0 or sum(b.weights) == 0:
        return
    forward, backward = shape_distance(a, b), shape_distance(b, a)
    assert 0.0 <= forward <= 1.0 and forward == backward
    assert shape_distance(a, a) == 0.0
    labels = [("value", str(i)) for i in range(12)]
    la = Shape("labels", a.weights, labels=tuple(labels[: len(a.weights)]))
    lb = Shape("labels", b.weights, labels=tuple(labels[::-1][: len(b.weights)]))
    assert shape_distance(la, lb) == shape_distance(lb, la)
    assert 0.0 <= shape_distance(la, lb) <= 1.0


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 60).flatmap(
        lambda n: st.tuples(
            st.lists(st.one_of(st.integers(-20, 20), st.none()), min_size=n, max_size=n),
            st.lists(st.one_of(st.floats(-1e3, 1e3), st.none()), min_size=n, max_size=n),
            st.lists(st.one_of(st.sampled_from(["a", "b", "", "ü"]), st.none()), min_size=n, max_size=n),
            st.lists(st.one_of(st.floats(-1e3, 1e3), st.none()), min_size=n, max_size=n),
        )
    )
)
def test_a_frame_against_itself_is_empty_and_distances_are_symmetric(columns: tuple) -> None:
    ints, floats, texts, others = columns
    table = pa.table({"i": pa.array(ints, pa.int64()), "f": pa.array(floats, pa.float64()),
                      "s": pa.array(texts, pa.string())})  # fmt: skip
    changed = table.set_column(1, "f", pa.array(others, pa.float64()))
    config = ba.StatsConfig(distinct_threshold=8)  # some columns past it: sketches too
    a = ba.build_bundle(table, data_id="h-a", config=config)
    again = ba.build_bundle(table, data_id="h-b", config=config)
    b = ba.build_bundle(changed, data_id="h-c", config=config)
    assert ba.diff(a, a).is_empty and ba.diff(a, again).is_empty
    forward, backward = ba.diff(a, b), ba.diff(b, a)
    for one, other in zip(forward.columns, backward.columns, strict=True):
        if one.distance is not None:
            assert 0.0 <= one.distance.value <= 1.0
            assert one.distance.value == other.distance.value
    assert json.dumps(forward.to_json(), allow_nan=False)


# ---------------------------------------------------------------- loading and history


def test_data_ids_load_through_the_store_with_config_passed_through(
    store: ba.BundleStore, versions: tuple[ba.Bundle, ba.Bundle]
) -> None:
    by_id = ba.diff("sales-v1", "sales-v2", store=store, config=ba.StatsConfig().config_id)
    assert by_id == ba.diff(*versions)
    with pytest.raises(ba.BundleMismatch):
        ba.diff("sales-v1", "sales-v2", store=store, config=ba.StatsConfig(top_k=2))
    with pytest.raises(TypeError, match="Bundles or data_ids"):
        ba.diff(versions[0], 42)  # type: ignore[arg-type]


def test_previous_and_latest_prefers_the_latest_config(tmp_path: Path) -> None:
    store = ba.BundleStore(tmp_path / "history")
    plain, other = ba.StatsConfig(), ba.StatsConfig(top_k=3)
    store.put(ba.build_bundle(version_one(), data_id="h-v1", config=plain), dataset="sales")
    with pytest.raises(ba.BundleNotFound, match="no version other than h-v1"):
        previous_and_latest(store, "sales")
    store.put(ba.build_bundle(version_one(), data_id="h-v1", config=other), dataset="sales")
    store.put(ba.build_bundle(version_one(), data_id="h-v1", config=plain), dataset="sales")
    store.put(ba.build_bundle(version_two(), data_id="h-v2", config=other), dataset="sales")
    assert previous_and_latest(store, "sales") == (("h-v1", other.config_id), ("h-v2", other.config_id))


def test_ba_diff_is_the_function_whatever_was_imported_first() -> None:
    code = (
        "import pyarrow as pa\n"
        "import buckaroo_assets.changes.thresholds\n"
        "import buckaroo_assets as ba\n"
        "b = ba.build_bundle(pa.table({'x': [1, 2]}), data_id='one')\n"
        "print(ba.diff(b, b).is_empty, type(ba.DriftThresholds()).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "DriftThresholds"]


# ---------------------------------------------------------------- the command line


def test_cli_diff_exit_codes_and_json(
    store: ba.BundleStore, versions: tuple[ba.Bundle, ba.Bundle], capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--store", store.url]
    assert main(["diff", "sales-v1", "sales-v2", *where, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {**ba.diff(*versions).to_json(), "thresholds": None, "crossed": []}

    assert main(["diff", "sales-v1", "sales-v2", *where, "--fail-on", "rows-drop"]) == 1
    text = capsys.readouterr().out
    assert "rows fell 2,000 -> 1,500 (-25.0 %), more than 10 %" in text
    assert "renamed  amount_usd  was amount (float64, position 5)" in text

    assert main(["diff", "sales-v1", "sales-v2", *where, "--fail-on", "rows-drop=25",
                 "--fail-on", "null-jump=20", "--fail-on", "distance=0.75"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["diff", "sales-v1", "sales-v2", *where, "--json", "--fail-on", "schema",
                 "--fail-on", "null-jump"]) == 1  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert printed["thresholds"] == {
        "rows_drop_pct": None, "null_jump_pts": 5.0, "schema_change": True, "distance": None,
    }  # fmt: skip
    assert [c["check"] for c in printed["crossed"]] == ["schema"] * 4 + ["null_jump"]

    assert main(["diff", "sales-v1", "sales-v1", *where, "--fail-on", "schema",
                 "--fail-on", "distance=0"]) == 0  # fmt: skip
    assert "changes  none" in capsys.readouterr().out


def test_cli_diff_of_a_dataset_compares_its_latest_two(
    store: ba.BundleStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "diff.html"
    code = main(["diff", "--dataset", "sales", "--store", store.url, "--json", "--html", str(page)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["old"]["data_id"], printed["new"]["data_id"]) == ("sales-v1", "sales-v2")
    assert "<script" not in page.read_text() and "amount_usd" in page.read_text()

    store.put(ba.build_bundle(version_two(), data_id="sales-v3"), dataset="sales")
    assert main(["diff", "--dataset", "sales", "--store", store.url, "--fail-on", "schema"]) == 0
    assert re.search(r"old +sales-v2 ", capsys.readouterr().out)


def test_cli_diff_errors(store: ba.BundleStore, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--store", store.url]
    for argv in (
        ["diff", "sales-v1", *where],
        ["diff", "sales-v1", "sales-v2", "--dataset", "sales", *where],
        ["diff", "sales-v1", "sales-v2", "--fail-on", "bogus", *where],
        ["diff", "sales-v1", "sales-v2", "--fail-on", "distance=2", *where],
        ["diff", "sales-v1", "sales-v2", "--fail-on", "schema=1", *where],
        ["diff", "a/b", "sales-v2", *where],
    ):
        assert main(argv) == 2, argv
    capsys.readouterr()
    assert main(["diff", "sales-v1", "nothing-here", *where]) == 1
    assert capsys.readouterr().err.startswith("error: no bundle for data_id 'nothing-here'")
    lonely = ba.BundleStore(Path(store.root).parent / "lonely")
    lonely.put(ba.build_bundle(version_one(), data_id="only-one"), dataset="solo")
    assert main(["diff", "--dataset", "solo", "--store", lonely.url]) == 1
    assert "has no version other than only-one" in capsys.readouterr().err


# ---------------------------------------------------------------- docs/diff.md


_EXAMPLE = re.compile(r"```python\n(.*?)```(?:\n+```text\n(.*?)```)?", re.S)
_SESSION = re.compile(r"```console\n\$ buckaroo-assets (.*?)\n(.*?)```", re.S)


def _any_config(text: str) -> str:
    """Output with config_ids blanked: they change with the stats engine's version."""
    return re.sub(r"config [0-9a-f]{8}", "config ID", text)


def test_the_doc_examples_run_and_print_what_the_doc_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUCKAROO_STORE_URL", raising=False)
    text = DOC.read_text()
    examples = _EXAMPLE.findall(text)
    assert len(examples) >= 3
    namespace: dict[str, object] = {"__name__": "diff_doc"}
    for number, (code, shown) in enumerate(examples, start=1):
        exec(compile(code, f"docs/diff.md python block {number}", "exec"), namespace)
        printed = capsys.readouterr().out
        if shown:
            assert _any_config(printed) == _any_config(shown), f"block {number}:\n{printed}"
    sessions = _SESSION.findall(text)
    assert sessions
    for command, shown in sessions:
        assert main(shlex.split(command)) in (0, 1)
        assert _any_config(capsys.readouterr().out) == _any_config(shown), command
