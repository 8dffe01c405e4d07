"""The README's Python blocks run as written, in order, in a fresh folder.

They build the example trips bundle into ./.buckaroo/store and read it back
through the store rule, as a new user after `scripts/main` would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
DOCS = README.parent / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)  # ```python illustrative blocks are not run


def test_every_python_block_of_the_readme_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUCKAROO_STORE_URL", raising=False)
    blocks = BLOCK.findall(README.read_text())
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "readme"}
    for number, code in enumerate(blocks, start=1):
        exec(compile(code, f"README.md python block {number}", "exec"), namespace)
    bundle = namespace["b"]
    assert bundle.rows == 250_000 and bundle.first_window.num_rows == 500
    assert (tmp_path / "trips.html").stat().st_size > 10_000
    assert (tmp_path / ".buckaroo" / "store" / "v1").is_dir()


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")  # Dagster's check factories
@pytest.mark.parametrize("number", [1, 2])
def test_the_dagster_doc_examples_are_loadable_code_locations(
    number: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall((DOCS / "dagster.md").read_text())
    assert len(blocks) == 2
    namespace: dict[str, object] = {"__name__": "code_location"}
    exec(compile(blocks[number - 1], f"docs/dagster.md python block {number}", "exec"), namespace)
    found = [v for v in namespace.values() if isinstance(v, dg.Definitions)]
    assert len(found) == 1  # `dagster ... -f` refuses a module with two
    graph = found[0].resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert "buckaroo/trips" in keys
    if number == 1:
        assert {"daily_orders", "buckaroo/users", "buckaroo/daily_orders"} <= keys
    else:  # Dagster's own checks on the bundle asset's metadata
        checks = {c.name for c in graph.asset_check_keys}
        assert {"column_fare_null_pct_bounds_check", "column_schema_change"} <= checks


# Files whose ```python blocks run: README.md and docs/dagster.md in the tests above,
# docs/diff.md in tests/test_diff.py; any other block says ```python illustrative.
EXECUTED = {"README.md", "docs/dagster.md", "docs/diff.md"}


def test_every_python_block_runs_in_a_test_or_is_marked_illustrative() -> None:
    root = README.parent
    with_runnable_blocks = {
        str(path.relative_to(root))
        for path in [README, *sorted(DOCS.glob("*.md"))]
        if BLOCK.search(path.read_text())
    }
    assert with_runnable_blocks == EXECUTED
