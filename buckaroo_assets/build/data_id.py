"""``data_id_for``: the identity of one version of a dataset's content.

A bundle is keyed by ``(data_id, config_id)``: if the ``data_id`` is equal the
stats may be reused, so it must change whenever the content changes, and it
must be equal for equal content so that caches hit across processes and
machines.  Every id passes :func:`buckaroo_assets.bundle.ids.validate_data_id`.

pandas, polars and pyarrow are imported only when a value of theirs is
passed in, so importing this module stays cheap.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .arrow_ids import arrow_id
from .digests import qualified_name
from .file_ids import path_id
from .pandas_ids import pandas_id

if TYPE_CHECKING:
    from ..store.file_hashes import FileHashMemo

__all__ = ["data_id_for"]


def data_id_for(
    x: object,
    *,
    storage_options: dict[str, Any] | None = None,
    memo: FileHashMemo | None = None,
) -> str:
    """Identity of one version of a dataset's content: equal content, equal id, anywhere.

    The result is ``<kind>-<32 lowercase hex>`` (a 128-bit BLAKE3 digest) and
    always passes :func:`validate_data_id`.  The kind says what was hashed,
    and ids of different kinds never compare equal:

    ``file-``
        A single file (local path, ``os.PathLike`` or any fsspec URL such as
        ``file://`` or ``memory://``): BLAKE3-128 of its raw bytes, streamed
        in 8 MiB chunks, so it equals ``b3sum --length 16 FILE``.  The path itself
        is not hashed: a copy elsewhere has the same id.
    ``s3etag-``
        A single object on a filesystem whose protocol includes ``s3``: a
        digest of its ETag and size, read with ``fs.info`` and nothing
        downloaded.  S3 documents that an object's ETag changes exactly when
        its content changes; identical content uploaded with a different
        multipart layout can get another ETag, which only costs a recompute.
        Objects without an ETag are hashed like ``file-``.
    ``dir-``
        A directory (e.g. a partitioned Parquet dataset): the sorted relative
        paths of all files below it, each with its ``file-``/``s3etag-``
        identity.  Every file counts, including ``_SUCCESS`` or hidden files.
    ``arrow-``
        A ``pyarrow.Table`` or ``RecordBatch`` (and a polars ``DataFrame``,
        via ``to_arrow()``): the schema's field names, types and nullability
        (not schema metadata) plus the values, independent of chunking and
        slicing.  Dictionary and view encodings of top-level columns are
        decoded first and bytes hidden under top-level nulls are ignored;
        inside nested types (struct/list children) the physical encoding
        still counts, so equal values may rarely get different ids.
    ``pandas-``
        A ``pandas.DataFrame``: column labels (any hashable, type-tagged so
        ``0`` and ``"0"`` differ), dtypes, the index (values, dtypes, names)
        and every cell.  Numeric, bool and datetime columns are hashed as raw
        bytes, categoricals as categories and codes, string and extension
        columns as the Arrow array the build reads, other object columns
        through a type-tagged encoding of each cell, so ``1`` and ``"1"`` differ.

    ``memo`` (e.g. ``BundleStore.file_hashes``) remembers the ``file-`` hash
    of each local file with its stat identity, so an unchanged file is not
    read again; see :mod:`buckaroo_assets.store.file_hashes` for when it is reused.

    A missing path raises ``FileNotFoundError``; any other type ``TypeError``.
    A column whose cells (or label) have no stable form — an ``object()``,
    a list that contains itself, a polars ``Object`` — raises
    ``UnsupportedColumnError`` (a ``TypeError``) naming the source, the
    column's label and position and its type: the error a build of the same
    frame raises.
    """
    if isinstance(x, str | os.PathLike):
        return path_id(x, storage_options, memo)
    module = type(x).__module__
    if module.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(x, pa.RecordBatch):
            return arrow_id(pa.Table.from_batches([x]))
        if isinstance(x, pa.Table):
            return arrow_id(x)
    elif module.startswith("pandas"):
        import pandas as pd

        if isinstance(x, pd.DataFrame):
            return pandas_id(x)
        if isinstance(x, pd.Series):
            raise TypeError("data_id_for() takes a DataFrame, not a Series; use .to_frame()")
    elif module.startswith("polars"):
        import polars as pl

        if isinstance(x, pl.DataFrame):
            from .polars_frames import polars_table

            return arrow_id(polars_table(x, oldest=True)[0])
        if isinstance(x, pl.LazyFrame):
            raise TypeError("data_id_for() needs materialised data; .collect() the LazyFrame")
    raise TypeError(
        "data_id_for() accepts a path or fsspec URL, a pyarrow Table/RecordBatch, "
        f"a pandas DataFrame or a polars DataFrame, not {qualified_name(x)}"
    )
