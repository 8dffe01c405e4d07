"""How far apart two versions' histograms are: Jensen–Shannon distance, from bundles alone.

A bundle's histogram is Buckaroo's: numeric columns have percentages of the
values between the 1st and 99th percentile in equal-width bins (edges in
``histogram_bins``, two tail markers without counts), other columns the shares
of their most frequent values plus ``longtail`` and ``unique`` lumps.  Both
read here as a distribution of the non-null values (the ``NA`` share is left
out: null rates are compared on their own), normalised to sum to one.

Two numeric histograms rarely share edges, so each is spread uniformly within
its bins and both are re-cut at the union of their edges; identical edges give
back the original bins.  Categorical histograms are matched by label, and a
number column's labels by the number they spell, so ``3`` and ``3.0`` stay
one value when a column changes from integers to floats.

Jensen–Shannon distance (square root of the divergence, base 2) is bounded in
[0, 1], symmetric, a metric, and finite when a bin or label exists on one side
only — a new category or a shifted range, exactly what a diff looks for.  The
population stability index is none of these: an empty bin makes it infinite
unless an arbitrary floor is added.  The sum is computed pairwise per cell, in
an order both sides share, so ``distance(a, b) == distance(b, a)`` exactly.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["Shape", "is_number", "js_distance", "shape_distance", "shape_of"]

# Categorical entries that hold a share of the non-null values, and the label each gets.
_LUMPS = ("longtail", "unique")


@dataclass(frozen=True)
class Shape:
    """The non-null mass of a histogram: shares over bin edges, or shares by label."""

    basis: str  # "bins" or "labels"
    weights: tuple[float, ...]  # sums to 1
    edges: tuple[float, ...] = ()  # bins: len(weights) + 1 increasing finite edges
    labels: tuple[tuple[str, Any], ...] = ()  # ("value", name), ("number", Decimal) or (lump, "")


def shape_of(stats: Mapping[str, Any]) -> Shape | None:
    """The histogram of one column's stats as a :class:`Shape`; None when it shows no values.

    Raises ``ValueError`` (its message says why) for a numeric histogram
    whose populations do not fit its edges.
    """
    entries = stats.get("histogram") or []
    populations = [float(e["population"]) for e in entries if "population" in e]
    if populations:
        edges = tuple(float(e) for e in stats.get("histogram_bins") or [])
        if len(edges) != len(populations) + 1:
            raise ValueError(f"{len(populations)} histogram bins but {len(edges)} edges")
        if not all(math.isfinite(e) for e in edges) or any(
            lo >= hi for lo, hi in zip(edges, edges[1:], strict=False)
        ):
            raise ValueError("histogram edges are not finite and increasing")
        weights = _normalised(populations)
        return Shape("bins", weights, edges=edges) if weights else None
    numbers = is_number(stats.get("min"))
    shares: dict[tuple[str, Any], float] = {}
    for entry in entries:
        if "cat_pop" in entry:
            name = str(entry["name"])
            shares[("number", Decimal(name)) if numbers else ("value", name)] = float(entry["cat_pop"])
        for lump in _LUMPS:
            if lump in entry:
                shares[(lump, "")] = float(entry[lump])
    weights = _normalised(list(shares.values()))
    return Shape("labels", weights, labels=tuple(shares)) if weights else None


def is_number(value: Any) -> bool:
    """A stat value that is a number: an int, float or Decimal, but not a bool."""
    return isinstance(value, _NUMBERS) and type(value) is not bool


_NUMBERS = (int, float, Decimal)


def shape_distance(a: Shape, b: Shape) -> float:
    """Jensen–Shannon distance of two shapes of one basis (``ValueError`` for mixed bases)."""
    if a.basis != b.basis:
        raise ValueError(f"cannot compare a histogram by {a.basis} with one by {b.basis}")
    if a.basis == "labels":
        mass_a, mass_b = dict(zip(a.labels, a.weights, strict=True)), dict(
            zip(b.labels, b.weights, strict=True)
        )
        cells = sorted(mass_a.keys() | mass_b.keys())
        return js_distance([mass_a.get(c, 0.0) for c in cells], [mass_b.get(c, 0.0) for c in cells])
    grid = sorted(set(a.edges) | set(b.edges))
    p, q = _rebinned(a, grid), _rebinned(b, grid)
    if not all(math.isfinite(x) for x in (*p, *q)):
        raise ValueError("histogram edges too far apart to rebin in float64")
    return js_distance(p, q)


def js_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """sqrt of the base-2 Jensen–Shannon divergence of two distributions on the same cells."""
    total = 0.0
    for a, b in zip(p, q, strict=True):
        both = a + b
        total += _term(a, both) + _term(b, both)  # one sum per cell: swapping p and q changes nothing
    return math.sqrt(min(1.0, max(0.0, total / 2)))


def _term(x: float, both: float) -> float:
    """x log2(x / m) with m = both / 2, written so that a subnormal x (whose half is 0) divides
    by ``both``, never by an m that underflowed to 0."""
    return x * math.log2(2 * x / both) if x > 0 else 0.0


def _normalised(values: list[float]) -> tuple[float, ...]:
    total = math.fsum(values)
    return tuple(v / total for v in values) if total > 0 else ()


def _rebinned(shape: Shape, grid: list[float]) -> list[float]:
    """Mass of ``shape`` in each cell of ``grid``, spread uniformly within its own bins."""
    edges, weights = shape.edges, shape.weights
    below = [0.0]
    for w in weights:
        below.append(below[-1] + w)

    def cdf(x: float) -> float:
        if x <= edges[0]:
            return 0.0
        if x >= edges[-1]:
            return below[-1]
        k = bisect_right(edges, x) - 1
        return below[k] + weights[k] * (x - edges[k]) / (edges[k + 1] - edges[k])

    at = [cdf(x) for x in grid]
    return [max(0.0, hi - lo) for lo, hi in zip(at, at[1:], strict=False)]
