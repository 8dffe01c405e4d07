"""Versions that are part of every bundle's identity and provenance."""

__version__ = "0.1.0"

# Bump whenever the stats engine can produce a different value for the same
# input: it is part of every config_id, so old bundles become stale, not wrong.
STATS_ENGINE_VERSION = "7"
# 3: sketches with bounds past the threshold; 0 distinct in all-null columns;
#    ordered categoricals by category order; dtypes from pandas metadata
# 4: nulls held in a dictionary counted as nulls; unknown time zones summarised in UTC;
#    128-bit and wider integers exact as decimal256
# 5: float mean, std and sum from exact sums; sketches fed in fixed units of rows, so
#    no stat depends on the block size (block_rows left the config_id)
# 6: units of text and binary also end at 64 MiB of values, and exact counts of text give
#    way to sketches past 64 MiB of distinct values (memory bounded by bytes, not rows)
# 7: strings and binary hashed by eight-byte words, each mixed with its position (the
#    distinct-count estimates of sketched text change)
