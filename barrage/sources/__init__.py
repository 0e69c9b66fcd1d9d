"""Batch sources: from records to ``tf.data`` batches, one class per strategy.

The per-record contract (loader -> transformer -> augmentors) is what plugins write to;
underneath, :func:`make_batch_source` picks the fastest strategy that gives the same
batches, the way Keras picks a data adapter:

* :class:`ColumnSource`: a vectorised loader (``KeySelector``) and transformer over
  in-memory records, applied once to whole columns;
* :class:`RecordSource`: anything else in memory, record by record in Python, in parallel;
* :class:`StreamSource`: a file read chunk by chunk (a :class:`~barrage.records.RecordStream`),
  with a seeded shuffle buffer, whole chunks at a time when the components are vectorised.

Every source implements :class:`BatchSource` (a ``tf.data.Dataset`` for any starting
batch, the batches per pass, the spec of a batch). Batch order comes from one
:class:`BatchOrder` whatever the strategy, so all give identical batches.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from barrage.components import Augmentor
from barrage.dataset import RecordLoader, RecordMode, RecordTransformer
from barrage.records import RecordStream
from barrage.sources.base import BatchSource
from barrage.sources.columns import ColumnSource, load_columns
from barrage.sources.order import BatchOrder, sample_indices
from barrage.sources.records import RecordSource
from barrage.sources.stream import SHUFFLE_BUFFER, StreamSource
from barrage.sources.values import BatchSpec, ValueSpec, normalise, normalise_data_record

__all__ = [
    "BatchOrder",
    "BatchSource",
    "BatchSpec",
    "ColumnSource",
    "RecordSource",
    "SHUFFLE_BUFFER",
    "StreamSource",
    "ValueSpec",
    "make_batch_source",
    "normalise",
    "normalise_data_record",
    "sample_indices",
]


def make_batch_source(
    table: Any,
    *,
    mode: RecordMode,
    loader: RecordLoader,
    transformer: RecordTransformer,
    augmentors: Sequence[Augmentor] = (),
    batch_size: int = 32,
    seed: Optional[int] = None,
    sample_count: Optional[str] = None,
    workers: Optional[int] = None,
    per_record: bool = False,
    shuffle: bool = True,
    shuffle_buffer: int = SHUFFLE_BUFFER,
) -> BatchSource:
    """The batch source for ``table`` (in memory, or a stream) in ``mode``.

    Augmentors, ``sample_count`` and shuffling apply in TRAIN only. ``per_record`` forces
    the per-record strategy (to compare strategies, or to debug a vectorised component).
    ``shuffle_buffer`` is how many records a stream mixes at a time.
    """
    training = mode is RecordMode.TRAIN
    chain = list(augmentors) if training else []
    if isinstance(table, RecordStream):
        return StreamSource(table, mode, loader, transformer, augmentors=chain, batch_size=batch_size, seed=seed,
                            sample_count=sample_count, shuffle=shuffle, shuffle_buffer=shuffle_buffer,
                            workers=workers, per_record=per_record)
    order = BatchOrder.for_table(table, mode, batch_size, seed, sample_count if training else None, shuffle)
    if not per_record and loader.vectorized and transformer.vectorized:
        columns = load_columns(table, loader, transformer)
        return ColumnSource(table.origin, mode, order, columns, loader, chain, workers)
    return RecordSource(table, mode, order, loader, transformer, chain, workers)
