"""The batch-source interface: what the engine needs from any source of batches.

A batch source serves one dataset in one mode. It knows its :class:`BatchSpec` (the
names, dtypes and shapes every batch holds), how many batches make one pass, and makes
the ``tf.data.Dataset`` of batches from any batch on (resuming starts mid-run). A Python
error raised while building a batch inside tf.data is kept, so that the engine can
raise it as itself instead of the TensorFlow error that carried it out
(:meth:`BatchSource.raise_pending`).
"""

from __future__ import annotations

import abc
import threading
from typing import Any, ClassVar, List, Optional, Protocol

from barrage.dataset import DataRecord, RecordLoader, RecordMode
from barrage.errors import DataError
from barrage.sources.order import BatchOrder, BatchPart
from barrage.sources.values import BatchSpec, LabelRange, refuse_missing


class PassOrder(Protocol):
    """How a source is cut into batches (:class:`~barrage.sources.order.BatchOrder` for
    records in memory, the stream's own for a stream)."""

    batch_size: int
    batches_per_pass: int
    seed: int

    @property
    def shuffled(self) -> bool:
        """Endless passes (TRAIN) rather than one (VALIDATION, SCORE)."""


class BatchSource(abc.ABC):
    """Batches of one dataset for one mode (``(x, y[, w])``, or ``(x,)`` in SCORE)."""

    name: ClassVar[str] = "source"

    def __init__(self, origin: str, mode: RecordMode, order: PassOrder, spec: BatchSpec, loader: RecordLoader):
        self.origin = origin
        self.mode = mode
        self.order = order
        self.spec = spec
        self.loader = loader
        self.label_ranges: List[LabelRange] = []
        self._error: Optional[BaseException] = None
        self._lock = threading.Lock()

    @property
    def batch_size(self) -> int:
        return self.order.batch_size

    @property
    def batches_per_pass(self) -> int:
        return self.order.batches_per_pass

    @property
    def input_names(self) -> List[str]:
        return self.spec.names("x")

    @property
    def output_names(self) -> List[str]:
        return self.spec.names("y")

    def dataset(self, start_batch: int = 0, part: Optional[BatchPart] = None) -> Any:
        """The ``tf.data.Dataset`` of batches from batch ``start_batch`` on: endless in
        TRAIN, the rest of one pass (with a known length) otherwise. With ``part`` (one
        worker of a cluster) each batch is the part's slices of a global batch, and only
        they are built."""
        import tensorflow as tf

        dataset = self._batches(start_batch, part)
        if not self.order.shuffled:
            remaining = self.batches_per_pass - start_batch % self.batches_per_pass
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(remaining * (part.count if part else 1)))
        return dataset.prefetch(tf.data.AUTOTUNE)

    @abc.abstractmethod
    def _batches(self, start_batch: int, part: Optional[BatchPart]) -> Any:
        """The batches (or ``part``'s slices of them) from ``start_batch`` on, before
        prefetching."""

    # -- values that cannot train -----------------------------------------------------

    def require_labels(self, ranges: List[LabelRange]) -> None:
        """Refuse labels outside their classes (for sparse losses), naming the record."""
        self.label_ranges = list(ranges)

    def check_values(self, batch: DataRecord, records: Any) -> None:
        """A ``DataError`` naming the record and column of the first missing or
        non-finite value, or label outside its classes (``records[row]`` is the record
        behind each row of ``batch``)."""
        refuse_missing(batch, self.origin, records, self.loader)
        targets = batch[1] if len(batch) > 1 else {}
        for label_range in self.label_ranges:
            if label_range.name in targets:
                bad = label_range.first_outside(targets[label_range.name])
                if bad is not None:
                    raise DataError(bad.message(self.origin, int(records[bad.row]), self.loader))

    def records_of_batch(self, batch_number: int) -> List[int]:
        """The records of batch ``batch_number`` (counted from the first batch of the
        first pass), for messages about a batch TensorFlow refused."""
        assert isinstance(self.order, BatchOrder)
        pass_number, offset = divmod(batch_number, self.batches_per_pass)
        order = self.order.pass_order(pass_number)
        return [int(i) for i in order[offset * self.batch_size:(offset + 1) * self.batch_size]]

    # -- errors from inside tf.data ---------------------------------------------------

    def remember_error(self, error: BaseException) -> None:
        """Keep the first Python error raised while building a batch."""
        with self._lock:
            self._error = self._error or error

    def raise_pending(self) -> None:
        """Re-raise the Python error behind a tf.data failure, if this source had one."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error from None

    # -- inspection -------------------------------------------------------------------

    def numpy_batches(self, limit: Optional[int] = None) -> List[DataRecord]:
        """The batches as NumPy (for tests and inspection): one pass, or ``limit`` batches."""
        import tensorflow as tf

        count = self.batches_per_pass if limit is None else limit
        out = []
        try:
            for batch in self.dataset().take(count):
                out.append(tuple({name: tensor.numpy() for name, tensor in part.items()} for part in batch))
        except tf.errors.OpError:
            self.raise_pending()
            raise
        return out
