"""Boolean columns: counts of true and false values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .column_accumulator import ColumnAccumulator
from .distribution import Summary
from .settings import StatsSettings


class BoolAccumulator(ColumnAccumulator):
    counts_values = True

    def __init__(self, arrow_type: pa.DataType, config: StatsSettings) -> None:
        super().__init__(arrow_type, config)
        self.trues = 0

    def _update(self, array: pa.Array) -> None:
        if isinstance(array, pa.DictionaryArray):
            array = array.dictionary_decode()  # sum has no kernel for dictionaries
        self.trues += int(pc.sum(array).as_py() or 0)

    def merge(self, other: BoolAccumulator) -> None:
        super().merge(other)
        self.trues += other.trues

    def state(self) -> dict[str, Any]:
        return {**super().state(), "trues": self.trues}

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.trues = state["trues"]

    def result(self) -> dict[str, Any]:
        stats = super().result()
        falses = self.length - self.null_count - self.trues
        if falses + self.trues == 0:
            return stats
        present = [(c, v) for v, c in ((False, falses), (True, self.trues)) if c]
        ranked = sorted(present, key=lambda cv: (-cv[0], cv[1]))
        summary = Summary(
            exact=True,
            distinct_count=len(ranked),
            unique_count=sum(1 for c, _ in ranked if c == 1),
            top_values=[v for _, v in ranked],
            top_counts=[c for c, _ in ranked],
            points=None,
            weights=np.zeros(0),
        )
        self._with_summary(stats, summary)
        stats["min"], stats["max"] = min(v for _, v in ranked), max(v for _, v in ranked)
        stats["histogram"] = self._categorical(stats, summary, [str(v) for v in summary.top_values])
        return stats
