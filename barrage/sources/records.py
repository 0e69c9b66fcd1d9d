"""Per-record Python: the loader, transformer and augmentors run record by record.

This is the general path (any loader, any transformer). Batches are built in Python
inside tf.data, ``dataset.workers`` at a time, so slow loaders (files, images) overlap.
A failing record is named: its index, the stage and the component.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from barrage.components import Augmentor
from barrage.dataset import DataRecord, RecordLoader, RecordMode, RecordTransformer
from barrage.errors import DataError
from barrage.sources.base import BatchSource
from barrage.sources.order import BatchOrder
from barrage.sources.python_batches import augment, python_batches, stack_checked
from barrage.sources.values import BatchSpec, normalise_data_record

CACHE_LIMIT_BYTES = 512 * 2**20  # VALIDATION batches up to this size are built once


class RecordSource(BatchSource):
    """Batches built record by record in Python (see the module docstring)."""

    name = "records"

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

    def _batches(self, start_batch: int) -> Any:
        dataset = python_batches(self, self.order.index_dataset(start_batch), self._build, self.workers)
        if self.mode is RecordMode.VALIDATION and self._estimated_bytes() < CACHE_LIMIT_BYTES:
            dataset = dataset.cache()
        return dataset

    def _build(self, indices: np.ndarray, pass_number: int, start: int, check: bool = True) -> DataRecord:
        records = [self._one_record(int(index), pass_number, start + i) for i, index in enumerate(indices)]
        return stack_checked(self, records, indices, check)

    def _one_record(self, index: int, pass_number: int, position: int) -> DataRecord:
        where = f"{self.origin}: record {index}"
        stage = "loader"
        try:
            data_record = self.loader.load(self.table[index])
            stage = "transformer"
            # the dtype rules, at the same stage as on the columns path
            data_record = normalise_data_record(self.transformer.transform(data_record), self.origin)
        except DataError:
            raise
        except KeyError as exc:
            raise DataError(f"{where}: missing key {exc}") from None
        except Exception as exc:
            component = type(getattr(self, stage)).__name__
            raise DataError(f"{where}: {stage} {component} failed: {type(exc).__name__}: {exc}") from exc
        return augment(data_record, self.augmentors, self.order.seed, pass_number, position, where)

    def _estimated_bytes(self) -> int:
        per_record = sum(
            int(np.prod(value.shape, dtype=np.int64)) * (value.dtype.itemsize if value.dtype is not None else 8) or 8
            for value in self.spec.values
        )
        return per_record * len(self.order.indices)
