"""The standard data API: record types, the loader and transformer contracts, built-ins.

A *record* is one plain dict (``{"x1": 1.0, "label": 2}``). A loader turns a record into a
*data record*, ``(x, y)`` or ``(x, y, w)`` while training and ``(x,)`` while scoring, each
a dict keyed by the network's input or output names. A transformer is fitted on the
training records, transforms every data record, and undoes its work on the network's
scores (``postprocess``). Plugins write to this per-record contract; the engine may take
faster, vectorised paths underneath when a component declares it supports them.

Construction contract (plugins rely on it): the engine builds ``Loader(mode=mode,
**params)`` and ``Transformer(mode=mode, loader=loader, **params)``.

This module imports NumPy only, so listing components never pays for TensorFlow.
"""

from __future__ import annotations

import abc
import copy
import enum
from typing import (
    TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union,
)

import numpy as np

from barrage.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - for the InputRecords alias only
    import pandas

Record = Dict[str, Any]
Records = Sequence[Record]
InputRecords = Union[Records, "pandas.DataFrame"]  # what train and predict accept (files too)
DataRecord = Tuple[Dict[str, Any], ...]
BatchDataRecords = Tuple[Dict[str, np.ndarray], ...]  # a data record with a leading batch axis
RecordScore = Dict[str, Any]
BatchRecordScores = List[RecordScore]
KeySpec = Union[str, Sequence[str]]
# The parts of a data record, in order: inputs, outputs (targets), sample weights.
PARTS: Tuple[str, ...] = ("x", "y", "w")
PART_WORDS: Dict[str, str] = {"x": "input", "y": "output", "w": "sample weight"}  # for messages

__all__ = [
    "PARTS",
    "Record",
    "Records",
    "InputRecords",
    "DataRecord",
    "BatchDataRecords",
    "RecordScore",
    "BatchRecordScores",
    "RecordMode",
    "RecordLoader",
    "ServingSpec",
    "TransformerOps",
    "LoaderOps",
    "RecordTransformer",
    "KeySelector",
    "IdentityTransformer",
    "stack_data_records",
    "unstack_data_record",
]


class ServingSpec(NamedTuple):
    """One value of one record as a serving signature takes it: a TensorFlow dtype name
    (``"float32"``, ``"float64"``, ``"int64"``, ``"string"``, ...) and the per-record shape
    (no batch axis). ``shape`` may be ``None`` where a transformer works on any shape and
    leaves it to the loader (one record key gives ``()``, a list of ``k`` keys ``(k,)``)."""

    dtype: str
    shape: Optional[Tuple[Optional[int], ...]]


class TransformerOps(NamedTuple):
    """A transformer's ``transform`` and ``postprocess`` as TensorFlow operations (what
    :meth:`RecordTransformer.tensorflow_ops` returns), for an exported model that takes
    records' values and returns postprocessed outputs without Python.

    Attributes:
        inputs: the loaded inputs ``transform`` changes, by network input name, with the
            :class:`ServingSpec` they have as the loader gives them (before the
            transformer): ``{"features": ServingSpec("float64", (3,))}``. Inputs it does
            not name reach the network unchanged, so they take the network's own spec.
        transform: ``transform(inputs) -> inputs``, on a dict of batched tensors keyed by
            network input name (every input; return them all), giving what the NumPy
            ``transform`` gives the network: the same values, dtypes and shapes.
        postprocess: ``postprocess(outputs) -> outputs``, on the dict of the network's
            batched output tensors; the same values as the NumPy ``postprocess`` (it may
            add outputs, as ``CategoricalEncoder`` adds ``<name>_category``).
        resources: TensorFlow resources the two functions use that are not variables
            (lookup tables), which the export must save with them.
    """

    inputs: Mapping[str, ServingSpec]
    transform: Callable[[Dict[str, Any]], Dict[str, Any]]
    postprocess: Callable[[Dict[str, Any]], Dict[str, Any]]
    resources: Sequence[Any] = ()


class LoaderOps(NamedTuple):
    """A loader's SCORE-mode ``load`` as TensorFlow operations (what
    :meth:`RecordLoader.tensorflow_ops` returns).

    Attributes:
        columns: the record keys it reads, each with the :class:`ServingSpec` a client
            sends it in (one tensor per key, a leading batch axis).
        load: ``load(columns) -> inputs``: the dict of batched column tensors to the dict
            of batched inputs keyed by network input name.
    """

    columns: Mapping[str, ServingSpec]
    load: Callable[[Dict[str, Any]], Dict[str, Any]]


class RecordMode(enum.Enum):
    """Which pass over the data a component is serving."""

    TRAIN = "train"
    VALIDATION = "validation"
    SCORE = "score"


class RecordLoader(abc.ABC):
    """Turns one record into a data record.

    Subclasses implement :meth:`load`. The vectorised contract is optional:
    :meth:`load_columns` loads a whole table of records into one batched data record. Its
    default stacks :meth:`load` over the records; a loader that can select whole columns
    at once overrides it and sets ``vectorized = True``, and the engine then skips the
    per-record loop entirely. Both methods must give the same values.
    """

    vectorized: bool = False

    def __init__(self, mode: RecordMode, **params: Any):
        """Sets ``self.mode``, and ``self.params`` to the extra ``params`` (a dict), which
        the base class accepts for a subclass to pass its own on and read them there, as
        loaders written for the original Barrage do."""
        self.mode = RecordMode(mode)
        self.params: Dict[str, Any] = dict(params)

    def __call__(self, record: Record) -> DataRecord:
        """``loader(record)`` is ``loader.load(record)``."""
        return self.load(record)

    @abc.abstractmethod
    def load(self, record: Record) -> DataRecord:
        """Return ``(x, y[, w])`` in TRAIN/VALIDATION and ``(x,)`` in SCORE."""

    def load_columns(self, table: Any) -> DataRecord:
        """Every record of ``table`` as one batched data record (a leading record axis).

        ``table`` is a sequence of record dicts that also hands out whole columns:
        ``len(table)``, ``table[i]`` (one record) and ``table.column(key)`` (one array over
        all records, read-only: it is shared). The default loads record by record and
        stacks the results.
        """
        return stack_data_records([self.load(table[i]) for i in range(len(table))])

    def column_of(self, part: str, name: str, position: Tuple[int, ...] = ()) -> Optional[str]:
        """The record key a value came from, for messages about bad values: ``part`` is
        ``"x"``, ``"y"`` or ``"w"``, ``position`` the index inside the value. ``None``
        when the loader cannot tell (the default)."""
        return None

    def produces(self) -> Optional[Dict[str, List[str]]]:
        """The names this loader will produce per part (``{"x": [...], "y": [...]}``),
        when it knows them without data; ``None`` (the default) when it does not.
        ``barrage validate`` checks them against the transformer and the network."""
        return None

    def tensorflow_ops(self, inputs: Mapping[str, ServingSpec]) -> Optional[LoaderOps]:
        """This SCORE loader as TensorFlow operations, or ``None`` (the default): it
        cannot, and ``barrage export`` then exports the network alone.

        ``inputs`` gives, for every network input, the :class:`ServingSpec` the loaded
        value must have. Optional: implement it when ``load`` picks, stacks or casts
        record values in a way TensorFlow can do (see :class:`LoaderOps`).
        """
        return None


class RecordTransformer(abc.ABC):
    """Fitted on training records; transforms data records; postprocesses scores.

    ``fit`` sets ``self.network_params`` (a JSON-serialisable dict handed to the network
    builder as keyword arguments). ``save``/``load`` write and read the fitted state as
    plain files in the given directory (JSON or text: never pickle). A transformer whose
    ``transform`` and ``postprocess`` work unchanged on batched data records (a leading
    batch axis on every array) sets ``vectorized = True`` so the engine can apply it to
    whole arrays at once.
    """

    vectorized: bool = False

    def __init__(self, mode: RecordMode, loader: RecordLoader, **params: Any):
        """Sets ``self.mode``, ``self.loader``, ``self.params`` (the extra ``params``, see
        :class:`RecordLoader`) and empty ``network_params``."""
        self.mode = RecordMode(mode)
        self.loader = loader
        self.params: Dict[str, Any] = dict(params)
        self._network_params: Dict[str, Any] = {}

    @property
    def network_params(self) -> Dict[str, Any]:
        """What ``fit`` computed for the network builder (keyword arguments, JSON)."""
        return self._network_params

    @network_params.setter
    def network_params(self, value: Dict[str, Any]) -> None:
        if not isinstance(value, dict):
            raise TypeError(f"network_params must be a dict, got {type(value).__name__}")
        self._network_params = value

    def requires(self) -> Dict[str, Tuple[str, List[str]]]:
        """The loaded names this transformer needs, per part: ``{"x": (param, names)}``,
        ``param`` being the transformer param that named them (for messages). Checked by
        ``barrage validate`` against what the loader produces. The default needs none."""
        return {}

    def for_mode(self, mode: RecordMode, loader: RecordLoader) -> "RecordTransformer":
        """This fitted (or loaded) transformer serving another mode with ``loader``.

        The engine fits one transformer in TRAIN and uses this to get its VALIDATION (and
        SCORE) twin. The default is a shallow copy with ``mode`` and ``loader`` replaced,
        so the fitted state is shared, not copied; override it when the state must not be
        shared or depends on the mode.
        """
        twin = copy.copy(self)
        twin.mode = RecordMode(mode)
        twin.loader = loader
        twin.network_params = dict(self.network_params or {})
        return twin

    @abc.abstractmethod
    def fit(self, records: Records) -> None:
        """Learn state from the training records (seen once, before any batch).

        ``records`` iterates record dicts and has a ``len``. When the training data is
        streamed from a file it is a :class:`~barrage.records.RecordStream`, read chunk
        by chunk: fit in one pass, with :meth:`loaded_batches` (memory then stays flat)
        or by iterating once; do not index records at random.
        """

    @abc.abstractmethod
    def transform(self, data_record: DataRecord) -> DataRecord:
        """Return the transformed data record."""

    @abc.abstractmethod
    def postprocess(self, score: RecordScore) -> RecordScore:
        """Undo the transformation on one record's network outputs."""

    def tensorflow_ops(self) -> Optional[TransformerOps]:
        """This fitted (or loaded) transformer's ``transform`` and ``postprocess`` as
        TensorFlow operations, or ``None`` (the default): it cannot, and ``barrage
        export`` then exports the network alone.

        Optional. Implement it when both can be written with TensorFlow operations only
        (no ``tf.py_function`` or ``tf.numpy_function``: the exported model must run
        where neither Barrage nor Python code of yours is installed), with the fitted
        state as constants or lookup tables. Called on the SCORE transformer; import
        TensorFlow inside it. See :class:`TransformerOps` for what it returns; the
        results must equal those of ``transform`` and ``postprocess`` on the same values.
        """
        return None

    @abc.abstractmethod
    def save(self, path: str) -> None:
        """Write the fitted state into the directory ``path`` (plain files only)."""

    @abc.abstractmethod
    def load(self, path: str) -> None:
        """Read the state written by :meth:`save` from the directory ``path``."""

    def loaded_batches(self, records: Records, batch_size: int = 4096) -> Iterator[DataRecord]:
        """Yield the loaded records as batched data records, in record order, for fits in
        one pass: over records in memory, or over a file streamed chunk by chunk (the
        training records of a streamed run), with the same batches either way.

        Each batch goes through the loader's :meth:`~RecordLoader.load_columns`, so a
        vectorised loader over a million records never builds a million dicts.
        """
        slicer = getattr(records, "slice", None)  # records in memory: views of one table, read as one
        chunks = getattr(records, "chunks", None)
        if slicer is None and chunks is not None:  # a stream
            for chunk in chunks(chunk_rows=batch_size):
                yield self.loader.load_columns(chunk)
            return
        for start in range(0, len(records), batch_size):
            stop = min(start + batch_size, len(records))
            chunk = slicer(start, stop) if slicer is not None else _RecordList(records[start:stop])
            yield self.loader.load_columns(chunk)


class _RecordList(list):
    """A plain list of records with ``column(key)``, for loaders' ``load_columns``."""

    def column(self, key: str) -> np.ndarray:
        return np.asarray([record[key] for record in self])


def _select(record: Record, keys: KeySpec) -> Any:
    if isinstance(keys, str):
        return record[keys]
    return np.asarray([record[key] for key in keys])


def _select_columns(table: Any, keys: KeySpec) -> np.ndarray:
    if isinstance(keys, str):
        return table.column(keys)
    declared = [key for key in keys if key in getattr(table, "text_keys", ())]
    if declared and len(declared) < len(keys):
        raise ConfigError([f"dataset.text_keys: {declared} are declared text but stacked with the numbers of "
                           f"{[key for key in keys if key not in declared]} into one input; give them an input "
                           "of their own"])
    read_matrix = getattr(table, "float_matrix", None)  # a list of dicts of floats: read as rows
    matrix = read_matrix(list(keys)) if read_matrix is not None else None
    if matrix is not None:
        return matrix
    gather = getattr(table, "columns", None)  # a RecordTable gathers many keys in one pass
    values = gather(list(keys)) if gather is not None else [table.column(key) for key in keys]
    arrays = [np.asarray(value) for value in values]
    if any(a.dtype.kind == "O" for a in arrays) and any(a.dtype.kind in "fiub" for a in arrays):
        _refuse_text_among_numbers(table, keys, arrays)
    return np.stack(arrays, axis=1)


def _refuse_text_among_numbers(table: Any, keys: Sequence[str], arrays: List[np.ndarray]) -> None:
    """One vector of numeric columns and a text one (mostly text: a few values that are
    not numbers are refused when the column is read): the error names the column and its
    first value that is not a number."""
    from barrage.records.table import non_numbers, not_a_number  # the column rules live there

    for key, array in zip(keys, arrays):
        if array.dtype.kind != "O" or array.ndim != 1:
            continue
        _, bad = non_numbers(array)
        if bad.any():
            index = int(np.argmax(bad))
            numbers = getattr(table, "record_numbers", None)
            record = int(numbers([index])[0]) if numbers is not None else index
            raise not_a_number(getattr(table, "origin", "records"), key, record, array[index])


class KeySelector(RecordLoader):
    """Builds inputs, outputs and sample weights by picking keys out of each record.

    ``inputs`` and ``outputs`` map a network input/output name to one key (the value is
    used as is) or a list of keys (their values become one vector). ``sample_weights``
    maps an output name to the key holding that record's weight for that output.
    """

    vectorized = True

    def __init__(
        self,
        mode: RecordMode,
        inputs: Mapping[str, KeySpec],
        outputs: Optional[Mapping[str, KeySpec]] = None,
        sample_weights: Optional[Mapping[str, str]] = None,
    ):
        super().__init__(mode)
        self.inputs = _check_key_mapping("inputs", inputs)
        self.outputs = _check_key_mapping("outputs", outputs or {})
        self.sample_weights = _check_key_mapping("sample_weights", sample_weights or {})
        if self.mode is not RecordMode.SCORE and not self.outputs:
            raise ValueError("KeySelector needs 'outputs' to train")
        unknown = sorted(set(self.sample_weights) - set(self.outputs))
        if unknown:
            raise ValueError(f"sample_weights names outputs that do not exist: {unknown}")

    def load(self, record: Record) -> DataRecord:
        x = {name: _select(record, keys) for name, keys in self.inputs.items()}
        if self.mode is RecordMode.SCORE:
            return (x,)
        y = {name: _select(record, keys) for name, keys in self.outputs.items()}
        if not self.sample_weights:
            return (x, y)
        w = {name: _select(record, key) for name, key in self.sample_weights.items()}
        return (x, y, w)

    def produces(self) -> Optional[Dict[str, List[str]]]:
        return {"x": list(self.inputs), "y": list(self.outputs), "w": list(self.sample_weights)}

    def column_of(self, part: str, name: str, position: Tuple[int, ...] = ()) -> Optional[str]:
        keys = {"x": self.inputs, "y": self.outputs, "w": self.sample_weights}.get(part, {}).get(name)
        if isinstance(keys, str):
            return keys
        if keys and position and position[-1] < len(keys):
            return keys[position[-1]]
        return None

    def tensorflow_ops(self, inputs: Mapping[str, ServingSpec]) -> Optional[LoaderOps]:
        """One tensor per record key: a key is its input; several keys are stacked on a
        last axis, as :meth:`load` stacks them. ``None`` when a spec does not fit the keys
        (a list of ``k`` keys must make a last axis of ``k``) or one key would need two
        different specs."""
        columns: Dict[str, ServingSpec] = {}
        for name, keys in self.inputs.items():
            spec = inputs[name]
            if isinstance(keys, str):
                wanted = {keys: ServingSpec(spec.dtype, spec.shape if spec.shape is not None else ())}
            elif spec.shape is None or (spec.shape and spec.shape[-1] in (len(keys), None)):
                each = ServingSpec(spec.dtype, tuple(spec.shape[:-1]) if spec.shape is not None else ())
                wanted = {key: each for key in keys}
            else:
                return None
            for key, column in wanted.items():
                if columns.setdefault(key, column) != column:
                    return None
        return LoaderOps(columns, self._load_tensors)

    def _load_tensors(self, columns: Dict[str, Any]) -> Dict[str, Any]:
        import tensorflow as tf

        return {
            name: columns[keys] if isinstance(keys, str) else tf.stack([columns[key] for key in keys], axis=-1)
            for name, keys in self.inputs.items()
        }

    def load_columns(self, table: Any) -> DataRecord:
        """Vectorised :meth:`load` over every record of ``table`` at once."""
        x = {name: _select_columns(table, keys) for name, keys in self.inputs.items()}
        if self.mode is RecordMode.SCORE:
            return (x,)
        y = {name: _select_columns(table, keys) for name, keys in self.outputs.items()}
        if not self.sample_weights:
            return (x, y)
        w = {name: table.column(key) for name, key in self.sample_weights.items()}
        return (x, y, w)


def _check_key_mapping(what: str, mapping: Any) -> Dict[str, KeySpec]:
    if not isinstance(mapping, Mapping):
        raise TypeError(f"KeySelector '{what}' must map names to keys, got {type(mapping).__name__}")
    for name, keys in mapping.items():
        valid = isinstance(keys, str) or (
            isinstance(keys, (list, tuple)) and keys and all(isinstance(k, str) for k in keys)
        )
        if not valid:
            raise TypeError(f"KeySelector '{what}.{name}' must be a key or a non-empty list of keys")
    return dict(mapping)


class IdentityTransformer(RecordTransformer):
    """The default transformer: no state, no change, no network params."""

    vectorized = True

    def __init__(self, mode: RecordMode, loader: RecordLoader):
        super().__init__(mode, loader)  # no params: a misspelt one is a config error

    def fit(self, records: Records) -> None:
        self.network_params = {}

    def transform(self, data_record: DataRecord) -> DataRecord:
        return data_record

    def postprocess(self, score: RecordScore) -> RecordScore:
        return score

    def tensorflow_ops(self) -> Optional[TransformerOps]:
        """The identity, in TensorFlow too: inputs and outputs pass unchanged."""
        return TransformerOps({}, dict, dict)

    def save(self, path: str) -> None:
        """Nothing to save: the identity has no state."""

    def load(self, path: str) -> None:
        """Nothing to load: the identity has no state."""


class StackError(ValueError):
    """Data records that cannot be stacked; ``position`` is the offending one's index."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


def stack_data_records(data_records: Sequence[DataRecord]) -> DataRecord:
    """Stack per-record data records into one batched data record (new leading axis).

    Raises :class:`StackError` naming the part, the name and the offending position when
    records disagree in structure or shape.
    """
    first = data_records[0]
    stacked: List[Dict[str, np.ndarray]] = []
    for part_index, part in enumerate(first):
        batch: Dict[str, np.ndarray] = {}
        for name in part:
            values = []
            for position, data_record in enumerate(data_records):
                try:
                    values.append(np.asarray(data_record[part_index][name]))
                except (KeyError, IndexError):
                    raise StackError(f"{PARTS[part_index]} '{name}' is missing", position) from None
            try:
                batch[name] = np.stack(values)
            except ValueError:
                shape = values[0].shape
                position = next(i for i, v in enumerate(values) if v.shape != shape)
                raise StackError(
                    f"{PARTS[part_index]} '{name}' has shape {values[position].shape} but {shape} "
                    f"in the batch's first record",
                    position,
                ) from None
        stacked.append(batch)
    return tuple(stacked)


def unstack_data_record(batched: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Split one batched dict of arrays into a list of per-record dicts."""
    names = list(batched)
    if not names:
        return []
    if len(names) == 1:  # the common case, about twice as fast as the general one
        name = names[0]
        return [{name: value} for value in batched[name]]
    return [dict(zip(names, values)) for values in zip(*(batched[name] for name in names))]
