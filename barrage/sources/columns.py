"""In-memory columns: a vectorised loader and transformer applied once to whole columns.

Without augmentors each batch is a ``tf.gather`` of the columns inside the tf.data graph,
with no Python per batch. With augmentors the batch's rows are sliced out in Python and
augmented record by record (augmentors are per-record functions).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from barrage.components import Augmentor
from barrage.dataset import PARTS, DataRecord, RecordLoader, RecordMode, RecordTransformer
from barrage.errors import DataError
from barrage.sources.base import BatchSource
from barrage.sources.order import BatchOrder, BatchPart, sliced
from barrage.sources.python_batches import augment, python_batches, stack_checked
from barrage.sources.values import BatchSpec, LabelRange, normalise_data_record, refuse_missing


def load_columns(table: Any, loader: RecordLoader, transformer: RecordTransformer) -> DataRecord:
    """Load and transform every record of ``table`` at once, with the dtype rules applied;
    every value must have one row per record, and hold no missing or non-finite value."""
    try:
        data_record = loader.load_columns(table)
    except DataError:
        raise
    except KeyError as exc:
        raise DataError(f"{table.origin}: record 0: missing key {exc}") from None
    transformed = transformer.transform(data_record)
    for part, values in zip(PARTS, transformed):
        for name, array in values.items():
            if len(array) != len(table):
                raise DataError(f"{table.origin}: {part} '{name}' has {len(array)} rows for {len(table)} records")
    records = table.record_numbers(np.arange(len(table)))
    data_record = normalise_data_record(transformed, table.origin, records)
    refuse_missing(data_record, table.origin, records, loader)
    return data_record


class ColumnSource(BatchSource):
    """Batches gathered from columns held in memory (see the module docstring)."""

    name = "columns"
    order: BatchOrder

    def __init__(
        self,
        origin: str,
        mode: RecordMode,
        order: BatchOrder,
        columns: DataRecord,
        loader: RecordLoader,
        augmentors: Sequence[Augmentor] = (),
        workers: Optional[int] = None,
    ):
        self.columns = columns
        self.rows = len(next(iter(columns[0].values())))  # one per record; every network has an input
        self.augmentors = list(augmentors)
        self.workers = workers
        self._tensors: Optional[Any] = None
        super().__init__(origin, mode, order, BatchSpec.of_batch(columns), loader)
        if self.augmentors:  # augmentors may change dtypes and shapes: record 0 as batches hold it
            self.spec = BatchSpec.of_batch(self._augmented(np.arange(1), 0, 0, check=False))

    def require_labels(self, ranges: List[LabelRange]) -> None:
        """Checked at once, on the whole columns (augmentors may still change labels:
        their batches are checked too)."""
        super().require_labels(ranges)
        self.check_values(self.columns, np.arange(self.rows))

    def _batches(self, start_batch: int, part: Optional[BatchPart]) -> Any:
        if self.augmentors:
            return python_batches(self, sliced(self.order.index_dataset(start_batch), part), self._augmented,
                                  self.workers)
        if part is None:
            return self._gathered(self.order.index_dataset(start_batch, positions=False))
        indices = sliced(self.order.index_dataset(start_batch), part)
        return self._gathered(indices.map(lambda batch, _pass, _start: batch))

    def _augmented(self, indices: np.ndarray, pass_number: int, start: int, check: bool = True) -> DataRecord:
        rows = tuple({name: values[indices] for name, values in part.items()} for part in self.columns)
        records: List[DataRecord] = [
            augment(
                tuple({name: values[i] for name, values in part.items()} for part in rows),
                self.augmentors, self.order.seed, pass_number, start + i, f"{self.origin}: record {int(index)}",
            )
            for i, index in enumerate(indices)
        ]
        return stack_checked(self, records, indices, check)

    def _gathered(self, index_dataset: Any) -> Any:
        """Batches gathered from in-memory tensors inside the graph.

        The columns enter the pipeline as one ``from_tensors`` element rather than as
        captured constants, and tf.data's default graph rewrites are off, so creating an
        iterator (once per validation epoch) never serialises the data.
        """
        import tensorflow as tf

        if self._tensors is None:  # one copy, however many datasets (and epochs) use it
            self._tensors = tuple(
                {name: tf.convert_to_tensor(array) for name, array in part.items()} for part in self.columns
            )
        dataset = tf.data.Dataset.zip((index_dataset, tf.data.Dataset.from_tensors(self._tensors).repeat()))
        dataset = dataset.map(
            lambda indices, data: tuple(
                {name: tf.gather(tensor, indices) for name, tensor in part.items()} for part in data
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        options = tf.data.Options()
        options.experimental_optimization.apply_default_optimizations = False
        return dataset.with_options(options)
