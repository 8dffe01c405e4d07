"""The README's Python blocks run as written, in order, in a fresh folder.

They build the example trips bundle into ./.buckaroo/store and read it back
through the store rule, as a new user after `scripts/main` would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


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


def test_the_dagster_doc_example_is_a_loadable_code_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    monkeypatch.chdir(tmp_path)
    docs = README.parent / "docs" / "dagster.md"
    (code,) = BLOCK.findall(docs.read_text())[:1]
    namespace: dict[str, object] = {"__name__": "code_location"}
    exec(compile(code, "docs/dagster.md python block 1", "exec"), namespace)
    found = [v for v in namespace.values() if isinstance(v, dg.Definitions)]
    assert len(found) == 1  # `dagster ... -f` refuses a module with two
    keys = {k.to_user_string() for k in found[0].resolve_asset_graph().get_all_asset_keys()}
    assert {"daily_orders", "buckaroo/trips", "buckaroo/users", "buckaroo/daily_orders"} <= keys
