"""Per-record Python: the loader, transformer and augmentors run record by record.

This is the general path (any loader, any transformer). Batches are built in Python
inside tf.data, ``dataset.workers`` at a time, so slow loaders (files, images) overlap.
A failing record is named: its index, the stage and the component.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from barrage.components import Augmentor
from barrage.dataset import DataRecord, RecordLoader, RecordMode, RecordTransformer
from barrage.errors import DataError
from barrage.sources.base import BatchSource
from barrage.sources.order import BatchOrder, BatchPart, sliced
from barrage.sources.python_batches import augment, python_batches, stack_checked
from barrage.sources.values import BatchSpec, normalise_data_record

CACHE_LIMIT_BYTES = 512 * 2**20  # VALIDATION batches up to this size are built once


class RecordSource(BatchSource):
    """Batches built record by record in Python (see the module docstring)."""

    name = "records"
    order: BatchOrder

    def __init__(
        self,
        table: Any,
        mode: RecordMode,
        order: BatchOrder,
        loader: RecordLoader,
        transformer: RecordTransformer,
        augmentors: Sequence[Augmentor] = (),
        workers: Optional[int] = None,
    ):
        self.table = table
        self.transformer = transformer
        self.augmentors = list(augmentors)
        self.workers = workers
        first = np.arange(min(1, len(table)))
        super().__init__(table.origin, mode, order, BatchSpec(()), loader)
        self.spec = BatchSpec.of_batch(self._build(first, 0, 0, check=False))  # record 0 fixes dtypes and shapes

    def _batches(self, start_batch: int, part: Optional[BatchPart]) -> Any:
        indices = sliced(self.order.index_dataset(start_batch), part)
        dataset = python_batches(self, indices, self._build, self.workers)
        if self.mode is RecordMode.VALIDATION and self._estimated_bytes() < CACHE_LIMIT_BYTES:
            dataset = dataset.cache()
        return dataset

    def _build(self, indices: np.ndarray, pass_number: int, start: int, check: bool = True) -> DataRecord:
        numbers = self.table.record_numbers(indices)
        records = [load_record(self, self.table[int(index)], int(number), pass_number, start + i)
                   for i, (index, number) in enumerate(zip(indices, numbers))]
        return stack_checked(self, records, numbers, check)

    def records_of_batch(self, batch_number: int) -> List[int]:
        return [int(n) for n in self.table.record_numbers(np.asarray(super().records_of_batch(batch_number)))]

    def _estimated_bytes(self) -> int:
        per_record = sum(
            int(np.prod(value.shape, dtype=np.int64)) * (value.dtype.itemsize if value.dtype is not None else 8) or 8
            for value in self.spec.values
        )
        return per_record * len(self.order.indices)


def load_record(source: Any, record: Any, number: int, pass_number: int, position: int) -> DataRecord:
    """One record through ``source``'s loader, transformer, the dtype rules and its
    augmentors; a failure names the record (``number``), the stage and the component."""
    where = f"{source.origin}: record {number}"
    stage, component = "loader", source.loader
    try:
        data_record = source.loader.load(record)
        stage, component = "transformer", source.transformer
        # the dtype rules, at the same stage as on the columns path
        data_record = normalise_data_record(source.transformer.transform(data_record), where)
    except DataError:
        raise
    except KeyError as exc:
        raise DataError(f"{where}: missing key {exc}") from None
    except Exception as exc:
        raise DataError(f"{where}: {stage} {type(component).__name__} failed: {type(exc).__name__}: {exc}") from exc
    return augment(data_record, source.augmentors, source.order.seed, pass_number, position, where)
