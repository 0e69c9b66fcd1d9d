"""Which records go into which batch: sampling, per-pass shuffling, and the index datasets
every in-memory batch source cuts its batches from.

TRAIN repeats each record ``sample_count`` times per pass and reshuffles every pass, the
order being a pure function of ``(seed, pass number)``; VALIDATION and SCORE keep input
order. Nothing here is a stateful TensorFlow op, so parallel maps and prefetching stay
on when op determinism is enabled (as it is in seeded runs): one stateful op anywhere in
a pipeline makes tf.data run every map serially.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import attrs
import numpy as np

from barrage.dataset import RecordMode
from barrage.errors import DataError


def sample_counts(table: Any, sample_count: str) -> np.ndarray:
    """How many times each record of ``table`` appears in a TRAIN pass (``record[key]``),
    checked: non-negative integers, a bad one named by its record."""
    counts = np.asarray(table.column(sample_count))
    if counts.dtype.kind not in "iuf" or counts.ndim != 1:
        raise DataError(f"{table.origin}: sample_count key '{sample_count}' must hold one integer per record")
    if counts.dtype.kind == "f":
        not_integer = ~np.isfinite(counts) | (counts != np.floor(counts))
        if not_integer.any():
            index = int(np.argmax(not_integer))
            raise DataError(
                f"{table.origin}: record {table.record_number(index)}: sample_count '{sample_count}' is "
                f"{counts[index].item()!r}, not an integer"
            )
    negative = counts < 0
    if negative.any():
        index = int(np.argmax(negative))
        raise DataError(
            f"{table.origin}: record {table.record_number(index)}: sample_count '{sample_count}' is negative "
            f"({counts[index]})"
        )
    return counts.astype(np.int64)


def sample_indices(table: Any, sample_count: Optional[str]) -> np.ndarray:
    """Record indices of one TRAIN pass: each record ``record[sample_count]`` times."""
    indices = np.arange(len(table), dtype=np.int64)
    if not sample_count:
        return indices
    expanded = np.repeat(indices, sample_counts(table, sample_count))
    if len(expanded) == 0:
        raise DataError(f"{table.origin}: every record has sample_count 0; nothing to train on")
    return expanded


@attrs.frozen
class BatchPart:
    """Which slices of every global batch one worker of a cluster builds: ``count``
    consecutive slices from slice ``first``, of ``total`` (one slice per replica). Slice
    ``k`` of a batch of ``n`` records holds its records ``n*k//total`` to
    ``n*(k+1)//total``, so the slices of all workers put together are the global batch."""

    first: int
    count: int
    total: int

    def bounds(self, size: int, slice_number: int) -> Tuple[int, int]:
        k = self.first + slice_number
        return size * k // self.total, size * (k + 1) // self.total


def sliced(index_dataset: Any, part: Optional[BatchPart]) -> Any:
    """An index dataset of ``(indices, pass, offset)`` global batches as the slices ``part``
    names, each with the offset of its first record in the pass (so a slice is seeded and
    augmented as the same records of an undivided batch)."""
    if part is None:
        return index_dataset
    import tensorflow as tf

    def slice_of(indices: Any, pass_number: Any, start: Any, number: Any) -> Any:
        size = tf.shape(indices, out_type=tf.int64)[0]
        low = size * (part.first + number) // part.total
        high = size * (part.first + number + 1) // part.total
        return indices[low:high], pass_number, start + low

    if part.count == 1:
        return index_dataset.map(lambda indices, pass_number, start: slice_of(indices, pass_number, start, 0))
    return index_dataset.flat_map(
        lambda indices, pass_number, start: tf.data.Dataset.range(part.count).map(
            lambda number: slice_of(indices, pass_number, start, number)
        )
    )


def draw_seed(seed: Optional[int]) -> int:
    """``seed``, or a fresh random one for an unseeded run."""
    return int(seed) if seed is not None else int(np.random.default_rng().integers(2**32))


class BatchOrder:
    """The record indices of every batch of every pass, for one mode.

    ``indices`` are the records of one pass (with repeats for ``sample_count``); TRAIN
    shuffles them per pass from ``seed``.
    """

    def __init__(self, indices: np.ndarray, mode: RecordMode, batch_size: int, seed: int, shuffle: bool = True):
        self.indices = indices
        self.mode = mode
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.batches_per_pass = math.ceil(len(indices) / batch_size)

    @classmethod
    def for_table(
        cls, table: Any, mode: RecordMode, batch_size: int, seed: Optional[int], sample_count: Optional[str] = None,
        shuffle: bool = True,
    ) -> "BatchOrder":
        """The order of ``table`` in ``mode``; an unseeded TRAIN order draws a seed."""
        indices = sample_indices(table, sample_count) if mode is RecordMode.TRAIN else np.arange(len(table))
        return cls(indices, mode, batch_size, draw_seed(seed), shuffle)

    @property
    def shuffled(self) -> bool:
        """TRAIN: endless, one pass after the other (reshuffled each pass unless ``shuffle``
        is off); VALIDATION and SCORE: one pass in input order."""
        return self.mode is RecordMode.TRAIN

    def pass_order(self, pass_number: int) -> np.ndarray:
        """Record indices of one pass: shuffled per pass in TRAIN, input order otherwise."""
        if not self.shuffled or not self.shuffle:
            return self.indices
        return np.random.default_rng([self.seed, pass_number]).permutation(self.indices)

    def index_dataset(self, start_batch: int = 0, positions: bool = True) -> Any:
        """A ``tf.data.Dataset`` of ``(record indices, pass, offset in pass)`` per batch
        (only the record indices unless ``positions``), from batch ``start_batch`` on:
        endless in TRAIN, the rest of one pass otherwise."""
        if self.shuffled:
            return self._endless(start_batch, positions)
        import tensorflow as tf

        first_pass, offset = divmod(start_batch, self.batches_per_pass)
        batches = _split_in_numpy(self.pass_order(first_pass)[offset * self.batch_size:], self.batch_size)
        if not positions:
            return batches
        size = self.batch_size
        return batches.enumerate(offset).map(
            lambda number, indices: (indices, tf.constant(first_pass, tf.int64), number * size)
        )

    def _endless(self, start_batch: int, positions: bool) -> Any:
        """TRAIN: each pass's order is drawn in Python once per pass, through a stateless
        ``numpy_function``; batches are cut inside the graph."""
        import tensorflow as tf

        first_pass, offset = divmod(start_batch, self.batches_per_pass)
        size = self.batch_size

        def order_of(pass_number: Any) -> Any:
            order = tf.numpy_function(
                lambda number: self.pass_order(int(number)).astype(np.int64), [pass_number], tf.int64, stateful=False
            )
            order.set_shape([None])
            return order

        def batches_of(pass_number: Any) -> Any:
            skip = tf.where(pass_number == first_pass, tf.constant(offset, tf.int64), tf.constant(0, tf.int64))
            batches = _split_in_graph(order_of(pass_number), size).enumerate().skip(skip)
            if not positions:
                return batches.map(lambda _number, indices: indices)
            return batches.map(lambda number, indices: (indices, pass_number, number * size))

        return tf.data.Dataset.counter(first_pass).flat_map(batches_of)


def _split_in_numpy(order: np.ndarray, batch_size: int) -> Any:
    """A dataset of consecutive index batches of ``order`` (known cardinality)."""
    import tensorflow as tf

    full = len(order) // batch_size
    parts = []
    if full:
        parts.append(tf.data.Dataset.from_tensor_slices(order[: full * batch_size].reshape(full, batch_size)))
    if len(order) > full * batch_size:
        parts.append(tf.data.Dataset.from_tensors(order[full * batch_size:]))
    dataset = parts[0]
    for part in parts[1:]:
        dataset = dataset.concatenate(part)
    return dataset


def _split_in_graph(order: Any, batch_size: int) -> Any:
    """:func:`_split_in_numpy` for an order tensor (inside ``flat_map``).

    Slices by batch number rather than filtering out an empty last batch: a ``filter``
    inside ``flat_map`` counts as stateful under op determinism and serialises the
    pipeline.
    """
    import tensorflow as tf

    count = tf.shape(order, out_type=tf.int64)[0]
    batches = (count + batch_size - 1) // batch_size
    return tf.data.Dataset.range(batches).map(lambda number: order[number * batch_size:(number + 1) * batch_size])
