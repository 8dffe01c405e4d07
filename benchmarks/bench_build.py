"""Benchmark ``buckaroo_assets.build_bundle`` against a bare Parquet read and other tools.

One command (run from the repository root)::

    python -m benchmarks.bench_build [--shapes mixed,strings,wide_floats,wide_mixed,flights]
                                     [--repeats 3] [--skip-flatness]

For every shape (see ``benchmarks/generate.py``) it generates the data under
``benchmarks/data/`` (reused when a file of the same shape and size exists),
times every contender in a fresh subprocess per measurement, alternating the
contenders round-robin in each repeat, and prints a table of medians and
ratios to the bare read of the same run. The flatness checks then measure
build_bundle's peak RSS when the rows grow 10x (``mixed``) and the columns 4x
(``wide_floats``). Everything goes to ``benchmarks/results/build.json``. See
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks._table import markdown_table

# This process stays deliberately lean (no pyarrow, no data in memory): on Linux
# a child's ru_maxrss starts from the RSS high-water mark of the process that
# spawned it, so a heavy parent would inflate every child's reported peak.
# The data files are therefore generated in a subprocess too.

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path("benchmarks") / "data"
RESULTS_FILE = Path("benchmarks") / "results" / "build.json"
SEED = 0
CHILD_TIMEOUT_S = 3600
SLOW_TIMEOUT_S = 300  # a slow peer that takes longer is reported as "> 300 s"

# (worker name, label shown in the table); order of the first round.
CONTENDERS: list[tuple[str, str]] = [
    ("bare_read", "bare read (pyarrow.parquet.read_table)"),
    ("build_bundle", "build_bundle (data_id given)"),
    ("build_bundle_hashed", "build_bundle (data_id hashed)"),
    ("duckdb_summarize", "duckdb SUMMARIZE"),
    ("polars_describe", "polars read_parquet().describe()"),
    ("pandas_describe", "pandas read_parquet().describe(include='all')"),
]
BASELINE = "bare_read"
FLATNESS_CONTENDER = "build_bundle"
# Targets, also stated in docs/benchmarks.md.
TARGET_RATIO = 1.2
TARGET_HASHED_OVER_GIVEN = 1.15
TARGET_PEAK_MB = 400.0
MB_PER_MIB = 1.048576
TARGET_FLAT_GROWTH = 0.10


class ChildFailed(RuntimeError):
    pass


# shape -> (rows, columns or None for the shape's own) of the measured file
SHAPES: dict[str, tuple[int, int | None]] = {
    "mixed": (2_000_000, None),
    "strings": (2_000_000, None),
    "wide_floats": (20_000, 2_000),
    "wide_mixed": (200_000, 500),
    "flights": (6 * 336_776, None),  # the real table, six times over
}
SLOW = {"polars_describe", "pandas_describe"}  # measured once on the wide shapes
WIDE = {"wide_floats", "wide_mixed"}


def data_file(shape: str, rows: int, columns: int | None = None) -> Path:
    """Path (relative to the repository root) of the generated file, made if missing."""
    suffix = f"x{columns}" if columns else ""
    path = DATA_DIR / f"{shape}_{rows}rows{suffix}_seed{SEED}.parquet"
    cmd = [sys.executable, "-m", "benchmarks.generate", str(path), "--shape", shape]
    cmd += ["--rows", str(rows), "--seed", str(SEED), "--reuse"]
    if columns:
        cmd += ["--columns", str(columns)]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return path


def run_child(contender: str, path: Path, timeout: float = CHILD_TIMEOUT_S) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON record."""
    cmd = [sys.executable, "-m", "benchmarks._worker", contender, str(path)]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise ChildFailed(
            f"{contender} exited with status {proc.returncode}:\n{proc.stderr.strip()}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise ChildFailed(f"{contender} printed no result:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1])


def mib(kib: float) -> float:
    return kib / 1024.0


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_facts() -> dict[str, Any]:
    facts: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    if hasattr(os, "sched_getaffinity"):
        facts["usable_cpus"] = len(os.sched_getaffinity(0))
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    facts["mem_total_gib"] = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    try:  # the package under test is usually imported from the checkout, not installed
        from buckaroo_assets.version import __version__ as ba_version
    except ImportError:
        ba_version = _version("buckaroo-assets")
    facts["buckaroo_assets"] = ba_version
    for dist in ("pyarrow", "numpy", "polars", "duckdb", "pandas"):
        facts[dist] = _version(dist)
    return facts


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def measure(
    path: Path, repeats: int, contenders: list[str], slow_repeats: dict[str, int]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Round-robin over ``contenders`` ``repeats`` times, one fresh subprocess each.

    ``slow_repeats`` caps the measurements of contenders too slow to repeat.
    """
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    errors: dict[str, str] = {}
    wanted = {name: min(repeats, slow_repeats.get(name, repeats)) for name in contenders}
    # Untimed warm-up so that the first contender does not pay for a cold page cache.
    run_child(BASELINE, path)
    for round_no in range(repeats):
        # Rotate the starting contender each round so no one is always first.
        shift = round_no % len(contenders)
        order = contenders[shift:] + contenders[:shift]
        for name in order:
            if name in errors or len(samples[name]) >= wanted[name]:
                continue
            timeout = SLOW_TIMEOUT_S if name in slow_repeats else CHILD_TIMEOUT_S
            try:
                record = run_child(name, path, timeout)
            except subprocess.TimeoutExpired:
                errors[name] = f"> {timeout:.0f} s (stopped)"
                print(f"  round {round_no + 1}: {name} still running after {timeout:.0f} s: stopped")
                continue
            except ChildFailed as exc:
                errors[name] = str(exc)
                print(f"  round {round_no + 1}: {name} FAILED", flush=True)
                continue
            record["round"] = round_no + 1
            record["load1_after"] = (load_average() or [None])[0]
            samples[name].append(record)
            print(
                f"  round {round_no + 1}: {name:<20} {record['seconds']:8.3f} s"
                f"  cpu {record['cpu_seconds']:7.3f} s  peak {mib(record['peak_rss_kib']):7.1f} MiB",
                flush=True,
            )
    return samples, errors


def summarize(samples: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for name, records in samples.items():
        if not records:
            continue
        seconds = [r["seconds"] for r in records]
        peaks = [mib(r["peak_rss_kib"]) for r in records]
        summary[name] = {
            "n": len(records),
            "median_s": statistics.median(seconds),
            "min_s": min(seconds),
            "max_s": max(seconds),
            "cpu_s_median": statistics.median(r["cpu_seconds"] for r in records),
            "peak_rss_mib_median": statistics.median(peaks),
            "rss_before_mib_median": statistics.median(mib(r["rss_before_kib"]) for r in records),
            "late_imports": sorted({m for r in records for m in r.get("late_imports", [])}),
        }
    base = summary.get(BASELINE)
    for entry in summary.values():
        entry["ratio_to_bare_read"] = entry["median_s"] / base["median_s"] if base else None
    return summary


def format_table(summary: dict[str, dict[str, Any]], errors: dict[str, str]) -> str:
    labels = dict(CONTENDERS)
    header = [
        "contender",
        "n",
        "median s",
        "min s",
        "x bare read",
        "CPU s",
        "peak RSS MiB",
        "RSS after imports MiB",
    ]
    rows = []
    for name, label in labels.items():
        if name in summary:
            e = summary[name]
            ratio = "n/a" if e["ratio_to_bare_read"] is None else f"{e['ratio_to_bare_read']:.2f}"
            rows.append(
                [
                    label,
                    str(e["n"]),
                    f"{e['median_s']:.3f}",
                    f"{e['min_s']:.3f}",
                    ratio,
                    f"{e['cpu_s_median']:.3f}",
                    f"{e['peak_rss_mib_median']:.1f}",
                    f"{e['rss_before_mib_median']:.1f}",
                ]
            )
        elif name in errors:
            shown = errors[name] if errors[name].startswith(">") else "FAILED"
            rows.append([label, "0", shown, "", "", "", "", ""])
    return markdown_table(header, rows)


def run_header(command: str, started: dt.datetime, facts: dict[str, Any], load_before: Any) -> dict[str, Any]:
    """What every results file opens with: the command, when, on what, and how loaded."""
    return {
        "command": command,
        "date_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": facts,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "harness_peak_rss_mib": mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
    }


def command_line(argv: list[str]) -> str:
    return shlex.join(["python", "-m", "benchmarks.bench_build", *argv])


def measure_shape(shape: str, repeats: int) -> dict[str, Any]:
    rows, columns = SHAPES[shape]
    path = data_file(shape, rows, columns)
    size_mb = (ROOT / path).stat().st_size / 1e6
    names = [name for name, _ in CONTENDERS]
    slow = {name: 1 for name in SLOW} if shape in WIDE else {"pandas_describe": 1}
    print(f"\n== {shape}: {path} ({rows:,} rows, {size_mb:.1f} MB)", flush=True)
    samples, errors = measure(path, repeats, names, slow)
    summary = summarize(samples)
    table = format_table(summary, errors)
    print(table, flush=True)
    given, hashed = summary.get("build_bundle"), summary.get("build_bundle_hashed")
    duck = summary.get("duckdb_summarize")
    targets: dict[str, Any] = {}
    if given:
        targets["ratio_to_bare_read"] = given["ratio_to_bare_read"]
        targets["ratio_met"] = given["ratio_to_bare_read"] <= TARGET_RATIO
        targets["peak_rss_mb"] = given["peak_rss_mib_median"] * MB_PER_MIB
        targets["peak_rss_met"] = targets["peak_rss_mb"] <= TARGET_PEAK_MB
        if duck:
            targets["faster_than_duckdb"] = given["median_s"] < duck["median_s"]
        if hashed:
            targets["hashed_over_given"] = hashed["median_s"] / given["median_s"]
            targets["hashed_met"] = targets["hashed_over_given"] <= TARGET_HASHED_OVER_GIVEN
    print(f"targets: {targets}", flush=True)
    return {
        "path": path.as_posix(),
        "rows": rows,
        "columns": columns,
        "file_mb": round(size_mb, 1),
        "summary": summary,
        "table": table,
        "samples": samples,
        "targets": targets,
        "errors": errors,
    }


def flatness(label: str, small: tuple[str, int, int | None], big: tuple[str, int, int | None]) -> dict:
    """build_bundle's peak RSS on a file and on one 10x longer or 4x wider, one run each."""
    out: dict[str, Any] = {"label": label}
    for name, (shape, rows, columns) in (("small", small), ("big", big)):
        path = data_file(shape, rows, columns)
        record = run_child(FLATNESS_CONTENDER, path)
        out[name] = {"path": path.as_posix(), "rows": rows, "columns": columns,
                     "seconds": record["seconds"], "peak_rss_mib": mib(record["peak_rss_kib"])}
    out["peak_growth"] = out["big"]["peak_rss_mib"] / out["small"]["peak_rss_mib"] - 1
    out["flat_met"] = out["peak_growth"] <= TARGET_FLAT_GROWTH
    print(
        f"flatness ({label}): peak {out['small']['peak_rss_mib']:.1f} -> "
        f"{out['big']['peak_rss_mib']:.1f} MiB ({out['peak_growth']:+.1%}, target <= "
        f"+{TARGET_FLAT_GROWTH:.0%})",
        flush=True,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_build",
        description="Benchmark build_bundle against a bare read, DuckDB, polars and pandas.",
    )
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated shapes")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the alternation")
    parser.add_argument("--skip-flatness", action="store_true", help="skip the flatness checks")
    args = parser.parse_args(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    unknown = sorted(set(shapes) - set(SHAPES))
    if unknown or args.repeats < 1:
        parser.error(f"unknown shapes {unknown}" if unknown else "--repeats must be >= 1")

    started = dt.datetime.now(dt.UTC)
    facts = machine_facts()
    load_before = load_average()
    print(f"command: {command_line(argv)}")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)
    results_by_shape = {shape: measure_shape(shape, args.repeats) for shape in shapes}
    checks = []
    if not args.skip_flatness:
        checks.append(flatness("rows x10", ("mixed", 2_000_000, None), ("mixed", 20_000_000, None)))
        checks.append(flatness("columns x4", ("wide_floats", 20_000, 500), ("wide_floats", 20_000, 2_000)))
    results = {
        **run_header(command_line(argv), started, facts, load_before),
        "repeats": args.repeats,
        "units": {"seconds": "wall seconds inside the child", "rss": "MiB (ru_maxrss / 1024)"},
        "labels": dict(CONTENDERS),
        "targets": {
            "ratio_to_bare_read_max": TARGET_RATIO,
            "hashed_over_given_max": TARGET_HASHED_OVER_GIVEN,
            "peak_rss_mb_max": TARGET_PEAK_MB,
            "peak_rss_flat_growth_max": TARGET_FLAT_GROWTH,
        },
        "shapes": results_by_shape,
        "flatness": checks,
    }
    out = ROOT / RESULTS_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {RESULTS_FILE.as_posix()}")
    failed = {
        f"{shape}: {name}": msg
        for shape, r in results_by_shape.items()
        for name, msg in r["errors"].items()
        if not msg.startswith(">")  # a slow peer stopped at its time limit is a result
    }
    for name, message in failed.items():
        print(f"--- FAILED {name}\n{message}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
