"""Benchmark ``buckaroo_assets.build_bundle`` against a bare Parquet read and other tools.

One command (run from the repository root)::

    python -m benchmarks.bench_build [--rows 2000000] [--repeats 5]
                                     [--big-rows 20000000] [--skip-big]

It generates synthetic data under ``benchmarks/data/`` (reused when a file
with the same row count exists), times every contender in a fresh
subprocess per measurement, alternating the contenders round-robin in each
repeat, prints a table of medians and ratios to the bare read of the same
run, optionally checks that build_bundle's peak RSS stays flat on a 10x
larger file, and writes everything to ``benchmarks/results/build.json``.
See ``docs/benchmarks.md``.
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
TARGET_RATIO = 1.5
TARGET_PEAK_MB = 350.0
MB_PER_MIB = 1.048576
TARGET_FLAT_GROWTH = 0.10


class ChildFailed(RuntimeError):
    pass


def data_file(rows: int) -> Path:
    """Path (relative to the repository root) of the synthetic file with ``rows`` rows."""
    path = DATA_DIR / f"synthetic_{rows}rows_seed{SEED}.parquet"
    cmd = [sys.executable, "-m", "benchmarks.generate", str(path), "--rows", str(rows)]
    cmd += ["--seed", str(SEED), "--reuse"]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return path


def run_child(contender: str, path: Path) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON record."""
    cmd = [sys.executable, "-m", "benchmarks._worker", contender, str(path)]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False
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
    path: Path, repeats: int, pandas_repeats: int, contenders: list[str]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Round-robin over ``contenders`` ``repeats`` times, one fresh subprocess each."""
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    errors: dict[str, str] = {}
    wanted = {name: repeats for name in contenders}
    if "pandas_describe" in wanted:
        wanted["pandas_describe"] = min(repeats, pandas_repeats)
    # Untimed warm-up so that the first contender does not pay for a cold page cache.
    run_child(BASELINE, path)
    for round_no in range(repeats):
        # Rotate the starting contender each round so no one is always first.
        shift = round_no % len(contenders)
        order = contenders[shift:] + contenders[:shift]
        for name in order:
            if name in errors or len(samples[name]) >= wanted[name]:
                continue
            try:
                record = run_child(name, path)
            except (ChildFailed, subprocess.TimeoutExpired) as exc:
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
            rows.append([label, "0", "FAILED", "", "", "", "", ""])
    return markdown_table(header, rows)


def command_line(argv: list[str]) -> str:
    return shlex.join(["python", "-m", "benchmarks.bench_build", *argv])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_build",
        description="Benchmark build_bundle against a bare read, DuckDB, polars and pandas.",
    )
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the main file")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the alternation")
    parser.add_argument(
        "--pandas-repeats",
        type=int,
        default=1,
        help="measurements of the (slow) pandas contender, taken in the first rounds",
    )
    parser.add_argument("--big-rows", type=int, default=20_000_000, help="rows of the big file")
    parser.add_argument("--skip-big", action="store_true", help="skip the flatness check")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.rows < 1 or args.big_rows < 1 or args.pandas_repeats < 0:
        parser.error("--rows, --repeats and --big-rows must be >= 1, --pandas-repeats >= 0")

    started = dt.datetime.now(dt.UTC)
    facts = machine_facts()
    load_before = load_average()
    print(f"command: {command_line(argv)}")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)

    path = data_file(args.rows)
    size_mb = (ROOT / path).stat().st_size / 1e6
    names = [name for name, _ in CONTENDERS]
    if args.pandas_repeats == 0:
        names.remove("pandas_describe")
    print(
        f"\nmeasuring {len(names)} contenders x {args.repeats} rounds on {path} "
        f"({args.rows:,} rows x 20 columns, {size_mb:.1f} MB)",
        flush=True,
    )
    samples, errors = measure(path, args.repeats, args.pandas_repeats, names)
    summary = summarize(samples)
    table = format_table(summary, errors)
    load_after = load_average()

    print(f"\nResults: {args.rows:,} rows x 20 columns, medians over rounds")
    print(table)
    print(f"load average before/after: {load_before} / {load_after}")
    harness_peak = mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print(f"harness process peak RSS: {harness_peak:.1f} MiB (floor of every child's ru_maxrss)")
    for name, entry in summary.items():
        if entry["late_imports"]:
            print(f"note: {name} imported modules inside the timed region: {entry['late_imports']}")

    big: dict[str, Any] | None = None
    if not args.skip_big:
        big_path = data_file(args.big_rows)
        print(f"\nflatness check: {FLATNESS_CONTENDER} on {big_path} (1 measurement)", flush=True)
        try:
            record = run_child(FLATNESS_CONTENDER, big_path)
        except (ChildFailed, subprocess.TimeoutExpired) as exc:
            errors[f"{FLATNESS_CONTENDER}@{args.big_rows}"] = str(exc)
            print(f"FAILED: {exc}")
        else:
            small = summary.get(FLATNESS_CONTENDER)
            big_peak = mib(record["peak_rss_kib"])
            big = {
                "rows": args.big_rows,
                "path": big_path.as_posix(),
                "file_mb": round((ROOT / big_path).stat().st_size / 1e6, 1),
                "seconds": record["seconds"],
                "peak_rss_mib": big_peak,
                "record": record,
            }
            print(f"  {args.big_rows:,} rows: {record['seconds']:.3f} s, peak {big_peak:.1f} MiB")
            if small:
                big["peak_rss_ratio_big_to_small"] = big_peak / small["peak_rss_mib_median"]
                big["time_ratio_big_to_small"] = record["seconds"] / small["median_s"]
                print(
                    f"  {args.rows:,} rows: {small['median_s']:.3f} s (median), "
                    f"peak {small['peak_rss_mib_median']:.1f} MiB (median)"
                )
                print(
                    f"  peak RSS ratio {args.big_rows:,}/{args.rows:,} rows: "
                    f"{big['peak_rss_ratio_big_to_small']:.3f} "
                    f"(target <= {1 + TARGET_FLAT_GROWTH:.2f}); time ratio "
                    f"{big['time_ratio_big_to_small']:.2f} (rows ratio "
                    f"{args.big_rows / args.rows:.1f})"
                )

    bb = summary.get("build_bundle")
    targets = {
        "ratio_to_bare_read_max": TARGET_RATIO,
        "peak_rss_mb_max": TARGET_PEAK_MB,
        "peak_rss_flat_growth_max": TARGET_FLAT_GROWTH,
    }
    if bb:
        targets["build_bundle_ratio_met"] = bb["ratio_to_bare_read"] <= TARGET_RATIO
        targets["build_bundle_peak_rss_met"] = bb["peak_rss_mib_median"] * MB_PER_MIB <= TARGET_PEAK_MB
    if big and "peak_rss_ratio_big_to_small" in big:
        targets["build_bundle_flat_met"] = (
            big["peak_rss_ratio_big_to_small"] <= 1 + TARGET_FLAT_GROWTH
        )
    if bb:
        print(
            f"\ntargets: build_bundle {bb['ratio_to_bare_read']:.2f}x bare read "
            f"(target <= {TARGET_RATIO}x); peak RSS {bb['peak_rss_mib_median']:.1f} MiB = "
            f"{bb['peak_rss_mib_median'] * MB_PER_MIB:.1f} MB (target <= {TARGET_PEAK_MB:.0f} MB)"
        )

    results = {
        "command": command_line(argv),
        "date_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": facts,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "harness_peak_rss_mib": harness_peak,
        "data": {
            "path": path.as_posix(),
            "rows": args.rows,
            "columns": 20,
            "seed": SEED,
            "file_mb": round(size_mb, 1),
        },
        "repeats": args.repeats,
        "pandas_repeats": min(args.repeats, args.pandas_repeats),
        "units": {"seconds": "wall seconds inside the child", "rss": "MiB (ru_maxrss / 1024)"},
        "labels": dict(CONTENDERS),
        "summary": summary,
        "table": table,
        "samples": samples,
        "flatness": big,
        "targets": targets,
        "errors": errors,
    }
    out = ROOT / RESULTS_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {RESULTS_FILE.as_posix()}")
    if errors:
        print("\nERRORS:")
        for name, message in errors.items():
            print(f"--- {name}\n{message}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
