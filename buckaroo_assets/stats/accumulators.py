"""The accumulator for a column, chosen by the kind of its Arrow type."""

from __future__ import annotations

import pyarrow as pa

from .binary_like import BinaryLikeAccumulator
from .boolean import BoolAccumulator
from .column_accumulator import ColumnAccumulator, NullAccumulator
from .kinds import Kind, kind_of
from .numeric import NumberAccumulator
from .settings import StatsSettings

__all__ = ["ColumnAccumulator", "accumulator_for"]


def accumulator_for(arrow_type: pa.DataType, config: StatsSettings) -> ColumnAccumulator:
    kind = kind_of(arrow_type)
    if kind in (Kind.NUMBER, Kind.TEMPORAL):
        return NumberAccumulator(arrow_type, config)
    if kind is Kind.BOOL:
        return BoolAccumulator(arrow_type, config)
    if kind is Kind.BINARY_LIKE:
        return BinaryLikeAccumulator(arrow_type, config)
    if kind is Kind.NULL:
        return NullAccumulator(arrow_type, config)
    return ColumnAccumulator(arrow_type, config)
