"""Viewer pages rendered by a real headless Chromium: cells, pinned stats, no console errors."""

import decimal
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import buckaroo_assets as ba
from buckaroo_assets.viewer.artifact import SUMMARY_ROWS
from buckaroo_assets.viewer.server import BundleServer

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HOSTILE = "</script><script>document.title='pwned'</script>"


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is needed: scripts/test installs Debian's chromium package")
    return path


def wide_frame(rows: int = 120) -> pd.DataFrame:
    """62 columns: floats, ints, strings, bools and tz timestamps, each with nulls."""
    rng = np.random.default_rng(3)
    columns: dict[str, Any] = {}
    nulls = lambda: rng.random(rows) < 0.15  # noqa: E731
    for i in range(16):
        values = rng.normal(i * 10, 5, rows).round(4)
        columns[f"float_{i}"] = np.where(nulls(), np.nan, values)
    for i in range(14):
        columns[f"int_{i}"] = pd.array(
            np.where(nulls(), None, rng.integers(-999, 999, rows)), dtype="Int64"
        )
    for i in range(14):
        words = np.array([f"w{i}_{k}" for k in range(9)], dtype=object)
        columns[f"str_{i}"] = pd.array(np.where(nulls(), None, rng.choice(words, rows)), dtype="string")
    columns["str_hostile"] = pd.array([HOSTILE] * rows, dtype="string")
    for i in range(9):
        columns[f"bool_{i}"] = pd.array(np.where(nulls(), None, rng.random(rows) < 0.5), dtype="boolean")
    for i in range(8):
        seconds = rng.integers(0, 90 * 86_400, rows)
        stamps = pd.Timestamp("2024-01-01", tz="America/New_York") + pd.to_timedelta(seconds, unit="s")
        columns[f"ts_{i}"] = pd.Series(stamps).where(~nulls())
    frame = pd.DataFrame(columns)
    frame.iloc[0] = frame.iloc[1]  # the first row, checked below, has a value in every column
    return frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return wide_frame()


@pytest.fixture(scope="module")
def bundle(frame: pd.DataFrame) -> ba.Bundle:
    return ba.build_bundle(frame)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile,  # --user-data-dir
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 12_000, "height": 1_000},  # every column rendered at once
            timezone_id="UTC",
            locale="en-US",
        )
        yield context
        context.close()


def render(browser: Any, url: str, *, grid: bool = True) -> tuple[Any, list[str]]:
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(url)
    if grid:
        wait_for_grid(page)
    return page, problems


def wait_for_grid(page: Any) -> None:
    page.wait_for_selector(
        '.ag-center-cols-container .ag-row[row-index="0"] .ag-cell >> visible=true', timeout=30_000
    )
    page.wait_for_timeout(300)


def text(page: Any, selector: str) -> str:
    return " ".join(page.locator(selector).first.inner_text().split())


def body_cell(page: Any, row: int, key: str) -> str:
    return text(page, f'.ag-center-cols-container .ag-row[row-index="{row}"] .ag-cell[col-id="{key}"]')


def pinned_cell(page: Any, index: int, key: str) -> str:
    return text(page, f'.ag-floating-top .ag-row[row-index="t-{index}"] .ag-cell[col-id="{key}"]')


def expected_cell(value: Any) -> str:
    """What Buckaroo's displayers show (en-US, UTC) for one of the frame's values."""
    if isinstance(value, pd.Timestamp):  # date and time of day, in the column's zone, named
        return f"{value:%m/%d/%Y, %H:%M:%S} {value.tzname()}" if value.tz else f"{value:%m/%d/%Y, %H:%M:%S}"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float):
        return three_digits(value)
    return str(value)[:35]  # the string displayer's max_length


def three_digits(value: float) -> str:
    """Intl.NumberFormat rounds the shortest decimal form half away from zero (40.8465 -> 40.847)."""
    exact = decimal.Decimal(repr(float(value))).quantize(decimal.Decimal("0.001"), decimal.ROUND_HALF_UP)
    return f"{exact:,}"


def check_first_rows(page: Any, frame: pd.DataFrame, bundle: ba.Bundle) -> None:
    headers = [" ".join(h.split()) for h in page.locator(".ag-header-cell-text").all_inner_texts()]
    for name in frame.columns:
        assert name in headers, name
    keys = {entry["orig_col_name"]: key for key, entry in bundle.stats.items()}
    for row in (0, 1, 2):
        for name in frame.columns:
            value = frame[name].iloc[row]
            if pd.isna(value):
                continue
            assert body_cell(page, row, keys[name]) == expected_cell(value), (row, name)


@pytest.mark.parametrize("embed_type", ["DFViewer", "Buckaroo"])
def test_self_contained_page_from_disk(
    browser: Any, frame: pd.DataFrame, bundle: ba.Bundle, tmp_path: Path, embed_type: str
) -> None:
    path = bundle.to_html(tmp_path / "page.html", embed_type)
    page, problems = render(browser, path.as_uri())
    check_first_rows(page, frame, bundle)
    keys = {entry["orig_col_name"]: key for key, entry in bundle.stats.items()}
    if embed_type == "DFViewer":
        labels = [pinned_cell(page, i, "index") for i in range(len(SUMMARY_ROWS))]
        assert labels == list(SUMMARY_ROWS)
        rows = {stat: i for i, stat in enumerate(SUMMARY_ROWS)}
        for name in ("float_3", "int_5", "str_2", "bool_1", "ts_4"):
            stats = bundle.column_stats(name)
            assert pinned_cell(page, rows["dtype"], keys[name]) == stats["dtype"]
            for stat in ("null_count", "non_null_count", "distinct_count"):
                assert pinned_cell(page, rows[stat], keys[name]) == f"{stats[stat]:,}", (name, stat)
        for stat in ("mean", "std", "min", "median", "max"):
            value = bundle.column_stats("float_3")[stat]
            assert pinned_cell(page, rows[stat], keys["float_3"]) == three_digits(value), stat
        assert pinned_cell(page, rows["most_freq"], keys["str_2"]) == bundle.column_stats("str_2")["most_freq"]
    else:
        assert [pinned_cell(page, i, "index") for i in range(2)] == ["dtype", "histogram"]
        for name in ("float_0", "int_0", "str_0", "bool_0", "ts_0"):
            histogram = f'.ag-floating-top .ag-row[row-index="t-1"] .ag-cell[col-id="{keys[name]}"]'
            assert page.locator(f"{histogram} svg").count() > 0, name  # the bars were drawn
    assert page.title() != "pwned"
    assert problems == []
    page.close()


def test_served_pages_render(browser: Any, frame: pd.DataFrame, bundle: ba.Bundle, tmp_path: Path) -> None:
    store = ba.BundleStore((tmp_path / "store").as_uri())
    store.put(bundle, dataset="wide")
    with BundleServer(store) as server:
        page, problems = render(browser, f"{server.url}/", grid=False)
        assert page.locator("a", has_text=bundle.data_id).count() == 1
        page.locator("a", has_text=bundle.data_id).click()
        wait_for_grid(page)
        check_first_rows(page, frame, bundle)
        header = text(page, "header.ba-header")  # the stored bundle's dataset, version and time
        assert header.startswith(f"wide version {bundle.data_id} all 120 rows 62 columns built ")
        assert problems == []
        page.close()
        page, problems = render(browser, f"{server.url}/datasets/wide?embed=Buckaroo")
        assert [pinned_cell(page, i, "index") for i in range(2)] == ["dtype", "histogram"]
        check_first_rows(page, frame, bundle)
        assert problems == []
        page.close()


def test_header_and_times_of_day(browser: Any, tmp_path: Path) -> None:
    """Readings 15 s apart: each cell shows its time, the pinned min/max the range; the header
    says which dataset and version, how many rows of how many, and what is estimated."""
    rows = 2_000
    readings = pd.DataFrame(
        {
            "at": pd.date_range("2025-06-01 08:00", periods=rows, freq="15s"),  # naive wall times
            "sensor": [f"s{i}" for i in range(rows)],  # 2,000 distinct: sketched past 500
            "value": np.arange(rows) * 0.5,
        }
    )
    store = ba.BundleStore((tmp_path / "store").as_uri())
    config = ba.StatsConfig(window_rows=300, distinct_threshold=500)
    store.put(ba.build_bundle(readings, config=config), dataset="readings")
    bundle = ba.load_bundle(dataset="readings", store=store, config=config)
    keys = {entry["orig_col_name"]: key for key, entry in bundle.stats.items()}
    for embed_type in ("DFViewer", "Buckaroo"):
        path = bundle.to_html(tmp_path / f"{embed_type}.html", embed_type)
        page, problems = render(browser, path.as_uri())
        header = text(page, "header.ba-header")
        assert header.startswith(f"readings version {bundle.data_id} first 300 of 2,000 rows 3 columns")
        assert f"built {bundle.created_at:%Y-%m-%d %H:%M:%S} UTC" in header
        estimated = [str(e["orig_col_name"]) for e in bundle.stats.values() if e.get("approximate")]
        assert "sensor" in estimated and f"estimated (sketched) stats: {', '.join(estimated)}" in header
        for row in (0, 1, 20):
            assert body_cell(page, row, keys["at"]) == expected_cell(readings["at"].iloc[row])
        assert body_cell(page, 1, keys["at"]) == "06/01/2025, 08:00:15"
        if embed_type == "DFViewer":
            labels = [pinned_cell(page, i, "index") for i in range(len(SUMMARY_ROWS))]
            first, last = readings["at"].iloc[0], readings["at"].iloc[-1]
            assert pinned_cell(page, labels.index("min"), keys["at"]) == expected_cell(first)
            assert pinned_cell(page, labels.index("max"), keys["at"]) == expected_cell(last)
        else:  # the status bar keeps only what works without Buckaroo's Python kernel
            assert page.locator('[col-id="total_rows"]').first.is_visible()
            for control in ("search", "post_processing", "cleaning_method", "show_commands"):
                assert page.locator(f'[col-id="{control}"]').count() > 0
                assert not page.locator(f'[col-id="{control}"]').first.is_visible(), control
        assert problems == []
        page.close()
