"""Benchmark harness for buckaroo_assets (see docs/benchmarks.md)."""
