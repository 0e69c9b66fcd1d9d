"""From a record table to ``tf.data`` batches, for one mode.

The per-record contract (loader -> transformer -> augmentors) is what plugins write
to; underneath, the pipeline picks the fastest path that gives the same batches:

* **columns**: a vectorised loader (``KeySelector``) and a vectorised transformer over
  in-memory records are applied once to whole columns; each batch is then a ``tf.gather``
  inside the tf.data graph, with no Python per batch.
* **records**: otherwise each batch is built in Python (``tf.py_function``), with
  ``dataset.workers`` batches in flight at once so slow loaders overlap.

Batch order comes from one numpy generator shared by both paths: TRAIN reshuffles
every pass over the data (seeded by ``dataset.seed`` and the pass number), VALIDATION
and SCORE keep input order. Augmentors that accept an ``rng`` argument get a generator
seeded by (seed, pass, position), so augmentation is reproducible even with parallel
workers.
"""

from __future__ import annotations

import inspect
import math
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import attrs
import numpy as np

from barrage.dataset import (
    DataRecord,
    RecordLoader,
    RecordMode,
    RecordTransformer,
    StackError,
    stack_data_records,
)
from barrage.errors import ConfigError, DataError
from barrage.records import RecordTable
from barrage.registry import Registry, get_registry

PARTS = ("x", "y", "w")
CACHE_LIMIT_BYTES = 512 * 2**20


@attrs.frozen
class Augmentor:
    """One step of the augmentation chain: ``function(data_record, **params)``."""

    name: str
    function: Callable[..., DataRecord]
    params: Dict[str, Any]
    wants_rng: bool

    def __call__(self, data_record: DataRecord, rng: np.random.Generator) -> DataRecord:
        if self.wants_rng:
            return self.function(data_record, rng=rng, **self.params)
        return self.function(data_record, **self.params)


# -- building components from the config ----------------------------------------------


def build_loader(config: Dict[str, Any], mode: RecordMode, registry: Optional[Registry] = None) -> RecordLoader:
    """The configured loader for ``mode``, built per the construction contract."""
    block = config["dataset"]["loader"]
    cls = (registry or get_registry()).resolve("loader", block["import"]).obj
    return _construct("dataset.loader", cls, mode=mode, **block.get("params", {}))


def build_transformer(
    config: Dict[str, Any], mode: RecordMode, loader: RecordLoader, registry: Optional[Registry] = None
) -> RecordTransformer:
    """The configured transformer for ``mode`` (not yet fitted or loaded)."""
    block = config["dataset"]["transformer"]
    cls = (registry or get_registry()).resolve("transformer", block["import"]).obj
    return _construct("dataset.transformer", cls, mode=mode, loader=loader, **block.get("params", {}))


def build_augmentors(config: Dict[str, Any], registry: Optional[Registry] = None) -> List[Augmentor]:
    """The augmentation chain in config order."""
    chain = []
    for block in config["dataset"].get("augmentor", []):
        function = (registry or get_registry()).resolve("augmentor", block["import"]).obj
        try:
            wants_rng = "rng" in inspect.signature(function).parameters
        except (TypeError, ValueError):
            wants_rng = False
        chain.append(Augmentor(block["import"], function, dict(block.get("params", {})), wants_rng))
    return chain


def _construct(path: str, cls: type, **kwargs: Any) -> Any:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError([f"{path}.params: {cls.__name__} refused them: {exc}"]) from exc


# -- sampling -------------------------------------------------------------------------


def sample_indices(table: RecordTable, sample_count: Optional[str]) -> np.ndarray:
    """Record indices of one TRAIN pass: each record ``record[sample_count]`` times."""
    indices = np.arange(len(table), dtype=np.int64)
    if not sample_count:
        return indices
    counts = np.asarray(table.column(sample_count))
    if counts.dtype.kind not in "iuf" or counts.ndim != 1:
        raise DataError(f"{table.origin}: sample_count key '{sample_count}' must hold one integer per record")
    if counts.dtype.kind == "f":
        not_integer = ~np.isfinite(counts) | (counts != np.floor(counts))
        if not_integer.any():
            index = int(np.argmax(not_integer))
            value = counts[index].item()
            raise DataError(
                f"{table.origin}: record {index}: sample_count '{sample_count}' is {value!r}, not an integer"
            )
    negative = counts < 0
    if negative.any():
        index = int(np.argmax(negative))
        raise DataError(f"{table.origin}: record {index}: sample_count '{sample_count}' is negative ({counts[index]})")
    expanded = np.repeat(indices, counts.astype(np.int64))
    if len(expanded) == 0:
        raise DataError(f"{table.origin}: every record has sample_count 0; nothing to train on")
    return expanded


# -- dtype rules ----------------------------------------------------------------------


def normalise(array: Any, where: str) -> np.ndarray:
    """float32 for floats, weights and booleans; integers stay integers; text stays text."""
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind == "f":
        return array.astype(np.float32, copy=False)
    if kind == "b":
        return array.astype(np.float32)
    if kind in "iu":
        return array
    if kind in "US":
        return array.astype(object)
    if kind == "O":
        flat = array.ravel()
        if len(flat) and all(isinstance(v, (str, bytes)) for v in flat):
            return array
        try:
            return array.astype(np.float32)
        except (TypeError, ValueError):
            raise DataError(f"{where}: values cannot become numbers or text") from None
    raise DataError(f"{where}: unsupported value type {array.dtype}")


def normalise_data_record(data_record: DataRecord, origin: str) -> DataRecord:
    out = []
    for part, values in zip(PARTS, data_record):
        normalised = {}
        for name, value in values.items():
            array = normalise(value, f"{origin}: {part} '{name}'")
            if part == "w":
                array = array.astype(np.float32)
            normalised[name] = array
        out.append(normalised)
    return tuple(out)


# -- the pipeline ---------------------------------------------------------------------


class BatchPipeline:
    """Batches of one record table for one mode, as a ``tf.data.Dataset``."""

    def __init__(
        self,
        table: RecordTable,
        mode: RecordMode,
        loader: RecordLoader,
        transformer: RecordTransformer,
        augmentors: Sequence[Augmentor] = (),
        batch_size: int = 32,
        seed: Optional[int] = None,
        sample_count: Optional[str] = None,
        workers: Optional[int] = None,
        force_per_record: bool = False,
    ):
        self.table = table
        self.mode = mode
        self.loader = loader
        self.transformer = transformer
        self.augmentors = list(augmentors) if mode is RecordMode.TRAIN else []
        self.batch_size = batch_size
        self.seed = int(seed) if seed is not None else int(np.random.default_rng().integers(2**32))
        self.workers = workers
        self.indices = sample_indices(table, sample_count) if mode is RecordMode.TRAIN else np.arange(len(table))
        self.batches_per_pass = math.ceil(len(self.indices) / batch_size)
        self.error: Optional[BaseException] = None
        self._lock = threading.Lock()
        self.columns: Optional[DataRecord] = None
        self._tensors: Optional[Tuple[Dict[str, Any], ...]] = None
        if not force_per_record and loader.vectorized and transformer.vectorized:
            self.columns = self._load_columns()
        # record 0 as batches will hold it (augmented, when augmentors can change it)
        first = self.columns if self.columns is not None and not self.augmentors else self._build_batch(
            np.arange(min(1, len(table))), 0, 0, probe=True
        )
        self.example = {part: {n: v[0] for n, v in values.items()} for part, values in zip(PARTS, first)}

    @property
    def path(self) -> str:
        """``"columns"`` or ``"records"``: which path this pipeline takes."""
        return "columns" if self.columns is not None else "records"

    @property
    def input_names(self) -> List[str]:
        return list(self.example["x"])

    @property
    def output_names(self) -> List[str]:
        return list(self.example.get("y", {}))

    # -- index order ------------------------------------------------------------------

    def pass_order(self, pass_number: int) -> np.ndarray:
        """Record indices of one pass: shuffled per pass in TRAIN, input order otherwise."""
        if self.mode is not RecordMode.TRAIN:
            return self.indices
        return np.random.default_rng([self.seed, pass_number]).permutation(self.indices)

    # -- building batches -------------------------------------------------------------

    def _load_columns(self) -> DataRecord:
        try:
            data_record = self.loader.load_columns(self.table)  # type: ignore[attr-defined]
        except DataError:
            raise
        except KeyError as exc:
            raise DataError(f"{self.table.origin}: record 0: missing key {exc}") from None
        data_record = self.transformer.transform(data_record)
        data_record = normalise_data_record(data_record, self.table.origin)
        for part, values in zip(PARTS, data_record):
            for name, array in values.items():
                if len(array) != len(self.table):
                    raise DataError(
                        f"{self.table.origin}: {part} '{name}' has {len(array)} rows for {len(self.table)} records"
                    )
        return data_record

    def _one_record(self, index: int, pass_number: int, position: int) -> DataRecord:
        record = self.table[int(index)]
        stage = "loader"
        try:
            data_record = self.loader.load(record)
            stage = "transformer"
            data_record = self.transformer.transform(data_record)
            # the same dtype rules, at the same stage, as the columns path
            data_record = normalise_data_record(data_record, self.table.origin)
            return self._augment(data_record, pass_number, position, index)
        except DataError:
            raise
        except KeyError as exc:
            raise DataError(f"{self.table.origin}: record {index}: missing key {exc}") from None
        except Exception as exc:
            raise DataError(
                f"{self.table.origin}: record {index}: {stage} {type(getattr(self, stage)).__name__} "
                f"failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _augment(self, data_record: DataRecord, pass_number: int, position: int, index: int) -> DataRecord:
        if not self.augmentors:
            return data_record
        rng = np.random.default_rng([self.seed, pass_number, position, 1])
        for augmentor in self.augmentors:
            try:
                data_record = augmentor(data_record, rng)
            except Exception as exc:
                raise DataError(
                    f"{self.table.origin}: record {index}: augmentor '{augmentor.name}' failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        return data_record

    def _build_batch(self, indices: np.ndarray, pass_number: int, start: int, probe: bool = False) -> DataRecord:
        """One batch in Python: per record, or per record only for augmentation."""
        if self.columns is not None:
            batch = tuple({n: v[indices] for n, v in part.items()} for part in self.columns)
            if not self.augmentors:
                return batch
            records = [
                self._augment(
                    tuple({n: v[i] for n, v in part.items()} for part in batch), pass_number, start + i, int(index)
                )
                for i, index in enumerate(indices)
            ]
        else:
            records = [self._one_record(index, pass_number, start + i) for i, index in enumerate(indices)]
        if not probe:
            self._check_records(records, indices)
        try:
            stacked = stack_data_records(records)
        except StackError as exc:
            raise DataError(f"{self.table.origin}: record {int(indices[exc.position])}: {exc}") from None
        return normalise_data_record(stacked, self.table.origin)

    def _check_records(self, records: Sequence[DataRecord], indices: np.ndarray) -> None:
        """Each record's values against record 0's (which fixed the dataset's dtypes and
        shapes): text where text was, numbers that widen safely to record 0's type, the
        same shape. A record that differs is named, rather than failing a whole batch."""
        for position, data_record in enumerate(records):
            for part, values in zip(PARTS, data_record):
                expected = self.example.get(part, {})
                for name, value in values.items():
                    if name not in expected:
                        continue
                    problem = _value_problem(np.asarray(value), np.asarray(expected[name]))
                    if problem:
                        raise DataError(
                            f"{self.table.origin}: record {int(indices[position])}: {part} '{name}' {problem}"
                        )

    # -- tf.data ----------------------------------------------------------------------

    def dataset(self, start_batch: int = 0) -> Any:
        """The ``tf.data.Dataset`` of batches: ``(x, y[, w])``, or ``(x,)`` in SCORE."""
        import tensorflow as tf

        if self.columns is not None and not self.augmentors:
            dataset = self._column_dataset(self._index_dataset(start_batch, positions=False))
        else:
            dataset = self._index_dataset(start_batch).map(
                self._py_batch_function(),
                num_parallel_calls=self.workers or tf.data.AUTOTUNE,
                deterministic=True,
            )
            if self.mode is RecordMode.VALIDATION and self._estimated_bytes() < CACHE_LIMIT_BYTES:
                dataset = dataset.cache()
        if self.mode is not RecordMode.TRAIN:
            remaining = self.batches_per_pass - start_batch % self.batches_per_pass
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(remaining))
        return dataset.prefetch(tf.data.AUTOTUNE)

    def _index_dataset(self, start_batch: int, positions: bool = True) -> Any:
        """``(record indices, pass, offset in pass)`` per batch (only the record indices
        unless ``positions``); endless in TRAIN, one pass otherwise; no stateful op.

        TRAIN draws each pass's order in Python once per pass, through a stateless
        ``numpy_function`` (the order is a pure function of the seed and the pass
        number); VALIDATION and SCORE use the input order; batches are cut inside the
        graph. Nothing here is stateful, so parallel maps and prefetching stay on when
        TensorFlow op determinism is enabled, as it is in seeded runs (a stateful op
        anywhere in a pipeline makes tf.data run every map serially).
        """
        import tensorflow as tf

        first_pass, offset = divmod(start_batch, self.batches_per_pass)
        batch_size = self.batch_size
        if self.mode is not RecordMode.TRAIN:
            batches = _split_in_numpy(self.pass_order(first_pass)[offset * batch_size:], batch_size)
            if not positions:
                return batches
            return batches.enumerate(offset).map(
                lambda number, indices: (indices, tf.constant(first_pass, tf.int64), number * batch_size)
            )

        def order_of(pass_number: Any) -> Any:
            order = tf.numpy_function(
                lambda number: self.pass_order(int(number)).astype(np.int64), [pass_number], tf.int64, stateful=False
            )
            order.set_shape([None])
            return order

        def batches_of(pass_number: Any) -> Any:
            skip = tf.where(pass_number == first_pass, tf.constant(offset, tf.int64), tf.constant(0, tf.int64))
            batches = _split_in_graph(order_of(pass_number), batch_size).enumerate().skip(skip)
            if not positions:
                return batches.map(lambda _number, indices: indices)
            return batches.map(lambda number, indices: (indices, pass_number, number * batch_size))

        return tf.data.Dataset.counter(first_pass).flat_map(batches_of)

    def _column_dataset(self, index_ds: Any) -> Any:
        """The columns path: batches gathered from in-memory tensors inside the graph.

        The columns enter the pipeline as one ``from_tensors`` element rather than as
        captured constants, and tf.data's default graph rewrites are off, so creating an
        iterator (once per validation epoch) never serialises the data.
        """
        import tensorflow as tf

        assert self.columns is not None
        if self._tensors is None:  # one copy, however many datasets (and epochs) use it
            self._tensors = tuple(
                {name: tf.convert_to_tensor(array) for name, array in part.items()} for part in self.columns
            )
        dataset = tf.data.Dataset.zip((index_ds, tf.data.Dataset.from_tensors(self._tensors).repeat()))
        dataset = dataset.map(
            lambda indices, data: tuple(
                {name: tf.gather(tensor, indices) for name, tensor in part.items()} for part in data
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        options = tf.data.Options()
        options.experimental_optimization.apply_default_optimizations = False
        return dataset.with_options(options)

    def _py_batch_function(self) -> Callable:
        import tensorflow as tf

        structure = [(part, name) for part, values in self.example.items() for name in values]
        dtypes = [_tf_dtype(self.example[part][name]) for part, name in structure]
        shapes = [np.shape(self.example[part][name]) for part, name in structure]

        expected = [
            (part, name, None if dtype == tf.string else np.dtype(dtype.as_numpy_dtype), shape)
            for (part, name), dtype, shape in zip(structure, dtypes, shapes)
        ]

        def build(indices: np.ndarray, pass_number: Any, start: Any) -> List[np.ndarray]:
            try:
                batch = dict(zip(PARTS, self._build_batch(indices, int(pass_number), int(start))))
                return [self._conform(batch, indices, *spec) for spec in expected]
            except BaseException as exc:
                with self._lock:
                    self.error = self.error or exc
                raise

        @tf.autograph.experimental.do_not_convert  # plain Python around one numpy_function
        def call(indices: Any, pass_number: Any, start: Any) -> Tuple[Dict[str, Any], ...]:
            # stateless: a batch is a pure function of its indices, pass and offset (the
            # augmentors' generators are seeded from them), which keeps tf.data parallel
            # under op determinism
            flat = tf.numpy_function(build, [indices, pass_number, start], dtypes, stateful=False)
            parts: Dict[str, Dict[str, Any]] = {}
            for (part, name), tensor, shape in zip(structure, flat, shapes):
                tensor.set_shape([None, *shape])
                parts.setdefault(part, {})[name] = tensor
            return tuple(parts[p] for p in PARTS if p in parts)

        return call

    def _conform(self, batch: Dict[str, Dict[str, np.ndarray]], indices: np.ndarray, part: str, name: str,
                 dtype: Optional[np.dtype], shape: Tuple[int, ...]) -> np.ndarray:
        """One array of a batch with the dtype and shape the dataset declared from record 0
        (a safe widening such as int -> float is applied; anything else names the record)."""
        array = batch[part][name]
        where = f"{self.table.origin}: record {int(indices[0])}: {part} '{name}'"
        if array.shape[1:] != tuple(shape):
            raise DataError(f"{where} has shape {array.shape[1:]} but {tuple(shape)} in record 0")
        if dtype is None:
            if array.dtype.kind not in "OUS":
                raise DataError(f"{where} holds {array.dtype} values but record 0 gave text")
            return array
        if array.dtype == dtype:
            return array
        if array.dtype.kind in "OUS" or not np.can_cast(array.dtype, dtype, casting="same_kind"):
            raise DataError(f"{where} holds {array.dtype} values but record 0 gave {dtype}")
        return array.astype(dtype)

    def _estimated_bytes(self) -> int:
        per_record = sum(np.asarray(v).nbytes or 8 for values in self.example.values() for v in values.values())
        return per_record * len(self.indices)

    def raise_pending(self, exc: BaseException) -> None:
        """Re-raise the Python error behind a tf.data failure, if this pipeline had one."""
        if self.error is not None:
            error, self.error = self.error, None
            raise error from None

    def numpy_batches(self, limit: Optional[int] = None) -> List[DataRecord]:
        """The batches as numpy (for tests and inspection): one pass, or ``limit`` batches."""
        import tensorflow as tf

        count = self.batches_per_pass if limit is None else limit
        out = []
        try:
            for batch in self.dataset().take(count):
                out.append(tuple({n: t.numpy() for n, t in part.items()} for part in batch))
        except tf.errors.OpError as exc:
            self.raise_pending(exc)
            raise
        return out


def _value_problem(value: np.ndarray, expected: np.ndarray) -> Optional[str]:
    """Why ``value`` cannot join a batch typed by ``expected`` (record 0's), or ``None``."""
    if value.shape != expected.shape:
        return f"has shape {value.shape} but {expected.shape} in record 0"
    value_text, expected_text = value.dtype.kind in "OUS", expected.dtype.kind in "OUS"
    if value_text != expected_text:
        if value_text:
            return f"holds text ({_first_text(value)!r}) but record 0 holds numbers"
        return f"holds numbers ({value.ravel()[0]!r}) but record 0 holds text"
    if not value_text and not np.can_cast(value.dtype, expected.dtype, casting="same_kind"):
        return f"holds {value.dtype} values but record 0 gave {expected.dtype}"
    return None


def _first_text(value: np.ndarray) -> Any:
    """The first element of ``value`` that is not a number (what a user must fix)."""
    for element in value.ravel():
        try:
            float(element)
        except (TypeError, ValueError):
            return element
    return value.ravel()[0]


def _tf_dtype(value: Any) -> Any:
    import tensorflow as tf

    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in "US":
        return tf.string
    return tf.as_dtype(array.dtype)


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
