"""Batches built by Python code inside tf.data: the step both in-memory sources share
when a batch needs per-record work (a per-record loader or transformer, or augmentors).

A batch is a pure function of its record indices, its pass and its offset in the pass
(augmentors get a generator seeded from them), so the ``numpy_function`` that builds it
is declared stateless and tf.data keeps ``workers`` batches in flight at once, in order,
even under op determinism.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence

import numpy as np

from barrage.components import Augmentor
from barrage.dataset import DataRecord, StackError, stack_data_records
from barrage.errors import DataError
from barrage.sources.base import BatchSource
from barrage.sources.values import normalise_data_record

BuildBatch = Callable[[np.ndarray, int, int], DataRecord]


def augment(
    data_record: DataRecord, augmentors: Sequence[Augmentor], seed: int, pass_number: int, position: int, where: str
) -> DataRecord:
    """Apply the chain in order; the generator is seeded by ``(seed, pass, position)``."""
    if not augmentors:
        return data_record
    rng = np.random.default_rng([seed, pass_number, position, 1])
    for augmentor in augmentors:
        try:
            data_record = augmentor(data_record, rng)
        except Exception as exc:
            raise DataError(f"{where}: augmentor '{augmentor.name}' failed: {type(exc).__name__}: {exc}") from exc
    return data_record


def stack_checked(source: BatchSource, records: List[DataRecord], indices: np.ndarray, check: bool) -> DataRecord:
    """Check each record against the source's spec (naming the first that does not fit),
    stack them, apply the dtype rules to the batch and refuse values that cannot train
    (:meth:`BatchSource.check_values`). No records (a worker's empty slice of a short
    batch) is a batch of no rows."""
    if not records:
        return source.spec.empty()
    if check:
        for data_record, index in zip(records, indices):
            source.spec.check(data_record, f"{source.origin}: record {int(index)}")
    try:
        stacked = stack_data_records(records)
    except StackError as exc:
        raise DataError(f"{source.origin}: record {int(indices[exc.position])}: {exc}") from None
    batch = normalise_data_record(stacked, source.origin, np.asarray(indices))
    if check:
        source.check_values(batch, indices)
    return batch


def python_batches(source: BatchSource, index_dataset: Any, build: BuildBatch, workers: Optional[int]) -> Any:
    """Map ``(indices, pass, offset)`` elements to batches made by ``build``."""
    import tensorflow as tf

    spec = source.spec
    dtypes = [tf.string if value.dtype is None else tf.as_dtype(value.dtype) for value in spec.values]

    def run(indices: np.ndarray, pass_number: Any, start: Any) -> List[np.ndarray]:
        try:
            return spec.flatten(build(indices, int(pass_number), int(start)))
        except BaseException as exc:
            source.remember_error(exc)
            raise

    @tf.autograph.experimental.do_not_convert  # plain Python around one numpy_function
    def call(indices: Any, pass_number: Any, start: Any) -> DataRecord:
        flat = tf.numpy_function(run, [indices, pass_number, start], dtypes, stateful=False)
        for tensor, value in zip(flat, spec.values):
            tensor.set_shape([None, *value.shape])
        return spec.unflatten(flat)

    return index_dataset.map(call, num_parallel_calls=workers or tf.data.AUTOTUNE, deterministic=True)
