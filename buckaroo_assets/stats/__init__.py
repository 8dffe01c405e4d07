"""The stats layer: a streaming, mergeable engine over Arrow record batches (pyarrow + numpy).

The lowest layer: it imports no other part of the package, reads its knobs
through the ``StatsSettings`` protocol and knows nothing of bundles or stores.
"""
