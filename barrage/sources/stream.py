"""Streamed files: batches of records read chunk by chunk, with memory that does not grow
with the file.

Each pass reads the stream's chunks (Parquet row groups and blocks of JSON lines in a
shuffled order in TRAIN; CSV in file order), repeats records by ``sample_count``, and
mixes them in a *shuffle buffer*: records wait in a pool, and whenever the pool holds
more than ``shuffle_buffer`` of them it is shuffled and all but ``shuffle_buffer`` leave
it as batches, so each batch draws from several chunks. Every draw comes from a
generator seeded by ``(seed, pass)``: a pass is the same batches whenever it is read
again (a resumed run continues the same sequence). With ``shuffle`` off, records go in
file order.

Vectorised loaders and transformers work on whole chunks (no dict per record);
otherwise batches are built record by record, ``workers`` batches at a time in threads.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import math
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import attrs
import numpy as np

from barrage.components import Augmentor
from barrage.dataset import DataRecord, RecordLoader, RecordMode, RecordTransformer
from barrage.errors import DataError
from barrage.records import RecordStream, RecordTable
from barrage.sources.base import BatchSource
from barrage.sources.columns import load_columns
from barrage.sources.order import BatchPart, draw_seed, sample_counts
from barrage.sources.python_batches import augment, stack_checked
from barrage.sources.records import load_record
from barrage.sources.values import BatchSpec

SHUFFLE_BUFFER = 16384  # records; dataset.shuffle_buffer's default
_REMEMBERED_BATCHES = 64  # recent batches whose records an error message can still name

Values = Any  # a batched data record of arrays (vectorised) or an object array of record dicts
Drawn = Tuple[Values, np.ndarray, int, int]  # values, record numbers, pass, position in the pass


@attrs.define
class StreamOrder:
    """How a stream is cut into batches: the batch size, the passes' lengths, the seed."""

    mode: RecordMode
    batch_size: int
    batches_per_pass: int
    seed: int
    shuffle: bool
    shuffle_buffer: int

    @property
    def shuffled(self) -> bool:
        """Endless passes (TRAIN), as :class:`~barrage.sources.order.BatchOrder` says it."""
        return self.mode is RecordMode.TRAIN


class _Pool:
    """Records waiting to leave as batches: their values and their record numbers."""

    def __init__(self) -> None:
        self.values: Values = None
        self.numbers = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.numbers)

    def add(self, values: Values, numbers: np.ndarray) -> None:
        self.values = values if self.values is None else _concatenate(self.values, values)
        self.numbers = np.concatenate([self.numbers, numbers])

    def reorder(self, order: np.ndarray) -> None:
        self.values, self.numbers = _take(self.values, order), self.numbers[order]

    def split(self, count: int) -> Tuple[Values, np.ndarray]:
        """Remove the first ``count`` records; their values and numbers."""
        head = (_take(self.values, np.arange(count)), self.numbers[:count])
        rest = np.arange(count, len(self))
        self.values, self.numbers = _take(self.values, rest), self.numbers[count:]
        return head


class StreamSource(BatchSource):
    """Batches of a :class:`~barrage.records.RecordStream` (see the module docstring)."""

    name = "stream"

    def __init__(
        self, stream: RecordStream, mode: RecordMode, loader: RecordLoader, transformer: RecordTransformer, *,
        augmentors: Sequence[Augmentor] = (), batch_size: int = 32, seed: Optional[int] = None,
        sample_count: Optional[str] = None, shuffle: bool = True, shuffle_buffer: int = SHUFFLE_BUFFER,
        workers: Optional[int] = None, per_record: bool = False,
    ):
        self.stream = stream
        self.transformer = transformer
        self.augmentors = list(augmentors)
        self.sample_count = sample_count if mode is RecordMode.TRAIN else None
        self.workers = workers or 1
        self.vectorized = not per_record and loader.vectorized and transformer.vectorized
        records = self._records_per_pass()
        order = StreamOrder(mode, batch_size, math.ceil(records / batch_size), draw_seed(seed), shuffle,
                            max(int(shuffle_buffer), 0))
        super().__init__(stream.origin, mode, order, BatchSpec(()), loader)
        self.shuffle, self.shuffle_buffer = order.shuffle, order.shuffle_buffer
        self._recent: "collections.OrderedDict[int, np.ndarray]" = collections.OrderedDict()
        self.spec = BatchSpec.of_batch(self._first_batch())

    def _records_per_pass(self) -> int:
        """Records in one pass: the stream's, or the sum of ``sample_count`` (read in one
        pass over that column alone)."""
        if not self.sample_count:
            return len(self.stream)
        total = sum(int(sample_counts(chunk, self.sample_count).sum())
                    for chunk in self.stream.chunks(columns=[self.sample_count]))
        if total == 0:
            raise DataError(f"{self.stream.origin}: every record has sample_count 0; nothing to train on")
        return total

    def _first_batch(self) -> DataRecord:
        """The records that fix the dtypes and shapes of the stream: on the vectorised
        path the whole first chunk (a file read in chunks has each chunk's types guessed
        from its own values, so one record could take a float column for integers);
        record 0 otherwise (each record is then checked against it)."""
        if not self.vectorized:
            first = next(self.stream.chunks(chunk_rows=1))
            values, numbers = self._prepare(first, check=False, repeat=False)
            return self._build((values, numbers, 0, 0), check=False)
        values, numbers = self._prepare(next(self.stream.chunks()), check=False, repeat=False)
        if self.augmentors:  # they may change dtypes and shapes: record 0 augmented, from the chunk's columns
            return self._build((_rows(values, 0, 1), numbers[:1], 0, 0), check=False)
        return values

    def records_of_batch(self, batch_number: int) -> List[int]:
        """The records of a recent batch (an error message names them), else none."""
        return [int(n) for n in self._recent.get(batch_number, [])]

    # -- tf.data -----------------------------------------------------------------------

    def _batches(self, start_batch: int, part: Optional[BatchPart]) -> Any:
        import tensorflow as tf

        signature = tuple(
            {value.name: tf.TensorSpec([None, *value.shape], tf.string if value.dtype is None
                                       else tf.as_dtype(value.dtype))
             for value in self.spec.values if value.part == part_name}
            for part_name in self.spec.parts
        )
        if self.vectorized and not self.augmentors:  # Python hands over blocks; the graph cuts batches
            blocks = tf.data.Dataset.from_generator(lambda: self._generate_blocks(start_batch),
                                                    output_signature=signature).prefetch(1)
            return _cut(blocks, self.batch_size, part)
        return tf.data.Dataset.from_generator(lambda: self._generate(start_batch, part), output_signature=signature)

    def _blocks(self, start_batch: int) -> Iterator[Drawn]:
        first_pass, skip = divmod(start_batch, self.batches_per_pass)
        passes = itertools.count(first_pass) if self.order.shuffled else range(first_pass, first_pass + 1)
        return (block for number in passes for block in self._pass(number, skip if number == first_pass else 0))

    def _generate_blocks(self, start_batch: int) -> Iterator[DataRecord]:
        """Blocks of whole batches of transformed columns (the vectorised path): one
        Python step per block, not per batch."""
        try:
            for values, _, _, _ in self._blocks(start_batch):
                yield self.spec.unflatten(self.spec.flatten(values))
        except Exception as exc:  # not GeneratorExit: tf.data closing the generator early
            self.remember_error(exc)
            raise

    def _generate(self, start_batch: int, part: Optional[BatchPart] = None) -> Iterator[DataRecord]:
        """Batches built in Python (per-record components or augmentors)."""
        drawn = (batch for block in self._blocks(start_batch) for batch in _split(block, self.batch_size))
        if part is not None:  # a worker of a cluster builds only its slices of each batch
            drawn = (piece for item in drawn for piece in _slices(item, part))
        try:
            for batch in self._built(drawn):
                yield self.spec.unflatten(self.spec.flatten(batch))
        except Exception as exc:
            self.remember_error(exc)
            raise

    def _built(self, drawn: Iterator[Drawn]) -> Iterator[DataRecord]:
        """Batches built from drawn records, ``workers`` at a time (threads), in order."""
        if self.workers <= 1 or (self.vectorized and not self.augmentors):
            for item in drawn:
                yield self._build(item)
            return
        with concurrent.futures.ThreadPoolExecutor(self.workers) as executor:
            pending: "collections.deque[Any]" = collections.deque()
            for item in drawn:
                pending.append(executor.submit(self._build, item))
                if len(pending) >= 2 * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    # -- one pass ------------------------------------------------------------------------

    def _pass(self, pass_number: int, skip: int) -> Iterator[Drawn]:
        """The drawn blocks of one pass, each of whole batches (the last may end with a
        short one), after the first ``skip`` batches (resuming mid-pass)."""
        shuffle = self.order.shuffled and self.shuffle
        rng = np.random.default_rng([self.order.seed, pass_number])
        order = rng.permutation(len(self.stream.fragments())).tolist() if shuffle else None
        keep = self.shuffle_buffer if shuffle else 0
        pool, position, size = _Pool(), 0, self.batch_size
        for chunk in itertools.chain(self.stream.chunks(order=order), [None]):
            if chunk is not None:
                pool.add(*self._prepare(chunk))
            ready = len(pool) if chunk is None else len(pool) - keep
            if chunk is not None and ready < size:
                continue
            if shuffle:
                pool.reorder(rng.permutation(len(pool)))
            count = ready if chunk is None else ready - ready % size
            values, numbers = pool.split(count)
            drop = min(max(skip * size - position, 0), count)  # rows of batches a resumed run skips
            if drop < count:
                self._remember(pass_number * self.batches_per_pass + (position + drop) // size, numbers[drop:])
                yield _rows(values, drop, count), numbers[drop:], pass_number, position + drop
            position += count

    def _remember(self, first_batch: int, numbers: np.ndarray) -> None:
        """Keep the record numbers of a block's batches (numbered from ``first_batch``)."""
        for start in range(0, len(numbers), self.batch_size):
            self._recent[first_batch + start // self.batch_size] = numbers[start:start + self.batch_size]
        while len(self._recent) > _REMEMBERED_BATCHES:
            self._recent.popitem(last=False)

    def _prepare(self, chunk: RecordTable, check: bool = True, repeat: bool = True) -> Tuple[Values, np.ndarray]:
        """A chunk as batches use it, with its records repeated by ``sample_count`` (unless
        not ``repeat``): transformed columns when the components are vectorised (checked
        once, for the whole chunk), the record dicts otherwise."""
        rows = np.arange(len(chunk), dtype=np.int64)
        if self.sample_count and repeat:
            rows = np.repeat(rows, sample_counts(chunk, self.sample_count))
        numbers = chunk.record_numbers(rows)
        if self.vectorized:
            columns = load_columns(chunk, self.loader, self.transformer)
            if check:
                columns = self._conformed(columns, chunk)
                self.check_values(columns, chunk.record_numbers(np.arange(len(chunk))))
            return _take(columns, rows), numbers
        records = np.empty(len(rows), dtype=object)
        records[:] = [chunk[int(row)] for row in rows]
        return records, numbers

    def _conformed(self, columns: DataRecord, chunk: RecordTable) -> DataRecord:
        """A later chunk's columns in the first chunk's dtypes: integers read as floats
        (``100.0``) become integers again; anything that would lose information (``99.5``
        where the first chunk had integers, text where it had numbers) is an error naming
        the record."""
        conformed = []
        for part_name, values in zip(self.spec.parts, columns):
            part = dict(values)
            for spec in self.spec.values:
                if spec.part == part_name and spec.name in part:
                    part[spec.name] = _conform(part[spec.name], spec, chunk, self.origin)
            conformed.append(part)
        return tuple(conformed)

    def _build(self, item: Drawn, check: bool = True) -> DataRecord:
        values, numbers, pass_number, position = item
        if self.vectorized and not self.augmentors:
            return values
        if self.vectorized:
            records = [augment(tuple({n: v[i] for n, v in part.items()} for part in values), self.augmentors,
                               self.order.seed, pass_number, position + i, f"{self.origin}: record {numbers[i]}")
                       for i in range(len(numbers))]
        else:
            records = [load_record(self, record, int(number), pass_number, position + i)
                       for i, (record, number) in enumerate(zip(values, numbers))]
        return stack_checked(self, records, numbers, check)


_EXACT_FLOAT32 = 2 ** 24  # the largest range in which float32 holds every whole number


def _conform(values: np.ndarray, spec: Any, chunk: RecordTable, origin: str) -> np.ndarray:
    kind, expected = values.dtype.kind, ("S" if spec.dtype is None else spec.dtype.kind)
    if (kind in "OUS") == (expected == "S") and not (expected in "iub" and kind == "f"):
        return values  # the same kind (or integers into floats: a safe widening)
    if expected in "iub" and kind == "f":
        # the values are float32 by now: beyond 2**24 a whole number may already be rounded
        inexact = (values != np.round(values)) | (np.abs(values) > _EXACT_FLOAT32)
        lossy = np.any(inexact, axis=tuple(range(1, values.ndim)))
        if not lossy.any():
            return values.astype(spec.dtype)
        row = int(np.argmax(lossy))
        flat = values.reshape(len(values), -1)[row]
        found = repr(flat[inexact.reshape(len(values), -1)[row]][0].item())
        reason = f"holds {found}, but the file's first chunk gave whole numbers ({spec.dtype})"
    else:
        found = "text" if kind in "OUS" else "numbers"
        reason = f"holds {found}, but the file's first chunk gave {'text' if expected == 'S' else 'numbers'}"
        row = 0
    raise DataError(
        f"{origin}: record {chunk.record_number(row)}: {spec.part} '{spec.name}' {reason}; write the column with "
        "one type throughout (e.g. 100.0 for a float column), or read the file whole (dataset.streaming: false)"
    )


def _split(block: Drawn, size: int) -> Iterator[Drawn]:
    """A block's batches, as the Python path builds them one by one."""
    values, numbers, pass_number, position = block
    for start in range(0, len(numbers), size):
        stop = min(start + size, len(numbers))
        yield _rows(values, start, stop), numbers[start:stop], pass_number, position + start


def _cut(blocks: Any, size: int, part: Optional[BatchPart]) -> Any:
    """Blocks cut into batches of ``size`` inside the graph (and into ``part``'s slices of
    each batch, for a worker of a cluster)."""
    import tensorflow as tf

    def rows(structure: Any, start: Any, stop: Any) -> Any:
        return tf.nest.map_structure(lambda tensor: tensor[start:stop], structure)

    def batches_of(*block: Any) -> Any:
        count = tf.shape(tf.nest.flatten(block)[0], out_type=tf.int64)[0]
        return tf.data.Dataset.range((count + size - 1) // size).map(
            lambda number: rows(block, number * size, tf.minimum((number + 1) * size, count)))

    batches = blocks.flat_map(batches_of)
    if part is None:
        return batches

    def slices_of(*batch: Any) -> Any:
        count = tf.shape(tf.nest.flatten(batch)[0], out_type=tf.int64)[0]
        return tf.data.Dataset.range(part.count).map(
            lambda number: rows(batch, count * (part.first + number) // part.total,
                                count * (part.first + number + 1) // part.total))

    return batches.flat_map(slices_of)


def _rows(values: Values, start: int, stop: int) -> Values:
    """Rows ``start`` to ``stop`` (views, no copy)."""
    if isinstance(values, np.ndarray):
        return values[start:stop]
    return tuple({name: array[start:stop] for name, array in part.items()} for part in values)


def _slices(item: Drawn, part: BatchPart) -> Iterator[Drawn]:
    values, numbers, pass_number, position = item
    for number in range(part.count):
        low, high = part.bounds(len(numbers), number)
        yield _take(values, np.arange(low, high)), numbers[low:high], pass_number, position + low


def _take(values: Values, rows: np.ndarray) -> Values:
    if isinstance(values, np.ndarray):
        return values[rows]
    return tuple({name: array[rows] for name, array in part.items()} for part in values)


def _concatenate(first: Values, second: Values) -> Values:
    if isinstance(first, np.ndarray):
        return np.concatenate([first, second])
    return tuple({name: np.concatenate([array, other[name]]) for name, array in part.items()}
                 for part, other in zip(first, second))
