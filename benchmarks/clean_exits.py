"""Fresh processes that import the package, load a bundle, render its page and exit: all exit 0?

One command (run from the repository root)::

    python -m benchmarks.clean_exits [--runs 2000] [--parallel 2] [--build]

A store with the example datasets is made in a temporary folder; each child
process loads one bundle through the store rule (``--build``: builds it from
the Parquet file first, as a producer would) and writes its viewer page. The
exit codes are tallied and any non-zero exit's stderr is printed. An abort at
interpreter exit (SIGABRT, "terminate called without an active exception")
shows as exit code -6 here.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHILD = """
import sys
import buckaroo_assets as ba
store, dataset, source, page = sys.argv[1:5]
if source:
    ba.BundleStore(store).put(ba.build_bundle(source), dataset=dataset)
ba.load_bundle(dataset=dataset, store=store).to_html(page)
"""


def prepare(folder: Path) -> tuple[str, dict[str, Path]]:
    """A store holding the example datasets' bundles, and the datasets' files."""
    setup = (
        "import sys, buckaroo_assets as ba\n"
        "from buckaroo_assets.build.example_data import example_paths\n"
        "store = ba.BundleStore(sys.argv[1])\n"
        "for name, path in example_paths(sys.argv[2]).items():\n"
        "    store.put(ba.build_bundle(str(path)), dataset=name)\n"
    )
    store = (folder / "store").as_uri()
    subprocess.run([sys.executable, "-c", setup, store, str(folder / "data")], check=True)
    return store, {p.stem: p for p in (folder / "data").glob("*.parquet")}


def run_exits(
    runs: int, *, parallel: int = 2, build: bool = False, folder: Path
) -> tuple[collections.Counter[int], list[str]]:
    """Exit codes of ``runs`` fresh processes, and the stderr of those that did not exit 0."""
    store, paths = prepare(folder)
    names = sorted(paths)

    def one(i: int) -> tuple[int, str]:
        name = names[i % len(names)]
        source = str(paths[name]) if build else ""
        page = str(folder / f"page-{i % (parallel * 2)}.html")
        done = subprocess.run(
            [sys.executable, "-c", CHILD, store, name, source, page],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        return done.returncode, done.stderr

    codes: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    with ThreadPoolExecutor(parallel) as pool:
        for code, stderr in pool.map(one, range(runs)):
            codes[code] += 1
            if code != 0:
                failures.append(f"exit {code}: {stderr.strip()[-2000:]}")
    return codes, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--build", action="store_true", help="build the bundle in each child too")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        codes, failures = run_exits(
            args.runs, parallel=args.parallel, build=args.build, folder=Path(folder)
        )
    for failure in failures[:10]:
        print(failure, file=sys.stderr)
    seconds = time.monotonic() - started
    tally = ", ".join(f"exit {code}: {count}" for code, count in sorted(codes.items()))
    print(f"{args.runs} processes in {seconds:.0f} s: {tally}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
