"""The knobs the engine reads, as a protocol, so the engine never depends on the bundle layer.

``buckaroo_assets.StatsConfig`` provides them (and fingerprints them into the
``config_id``); any object with these attributes drives the engine the same way.
"""

from __future__ import annotations

from typing import Protocol


class StatsSettings(Protocol):
    @property
    def top_k(self) -> int: ...
    @property
    def histogram_bins(self) -> int: ...
    @property
    def categorical_histogram_top(self) -> int: ...
    @property
    def distinct_threshold(self) -> int: ...
    @property
    def hll_precision(self) -> int: ...
    @property
    def sketch_size(self) -> int: ...
