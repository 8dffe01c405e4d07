"""Fresh processes that load a bundle and render its page all exit 0 (no abort at exit)."""

from pathlib import Path

from benchmarks.clean_exits import run_exits


def test_three_hundred_fresh_processes_exit_cleanly(tmp_path: Path) -> None:
    codes, failures = run_exits(300, parallel=2, folder=tmp_path)
    assert sum(codes.values()) == 300
    assert failures == [], failures[:3]
