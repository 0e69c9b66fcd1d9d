"""``RecordTable``: records held in memory as columns.

A table is a read-only sequence of record dicts (what per-record loaders and
transformers see) that also hands out whole columns as arrays (what vectorised loaders
use). Its data lives in a :class:`ColumnStore`, which turns each column into an array
once and keeps it: slices and takes of a table are views of the same store, so a list
of dicts is turned into columns once, however many times it is sliced (a transformer's
fit, then the batches). A table that is one chunk of a larger stream knows the record
number of its first row (its store's ``offset``), so messages name records by their
place in the file.

Keys declared text (``dataset.text_keys``) are read as text whatever their values look
like: a table hands out their values as ``str`` (see :func:`as_text`) in its columns and
its records alike, so a column of codes is the same column in every file and batch.
"""

from __future__ import annotations

import abc
import itertools
import operator
import reprlib
import struct
from typing import AbstractSet, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from barrage.errors import DataError

try:  # the C gather of a list of dicts, when the optional extension was built
    from barrage.records._speedups import float_rows as _c_float_rows
except ImportError:  # built without a C compiler: the Python gather below does it all
    _c_float_rows = None  # type: ignore[assignment]

Index = Union[None, slice, np.ndarray]


class ColumnStore(abc.ABC):
    """All records of a table, column by column (each converted once, on first use)."""

    columnar = False

    def __init__(self, origin: str, offset: int = 0):
        self.origin = origin
        self.offset = offset  # the number of the first record in the data it came from
        self._columns: Dict[str, np.ndarray] = {}
        self._texts: Dict[str, np.ndarray] = {}

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of records."""

    @abc.abstractmethod
    def keys(self) -> List[str]:
        """The keys of the records."""

    @abc.abstractmethod
    def raw(self, key: str) -> np.ndarray:
        """The values of ``key`` as read (a ``DataError`` names a record without it)."""

    @abc.abstractmethod
    def record(self, index: int) -> Dict[str, Any]:
        """One record as a new dict."""

    def column(self, key: str) -> np.ndarray:
        """The values of ``key`` as one array: numbers as numbers, text as text, vectors
        stacked; a value that cannot be read so is an error naming its record."""
        if key not in self._columns:
            self._columns[key] = clean_column(key, self.raw(key), self.origin, self.offset)
        return self._columns[key]

    def text(self, key: str) -> np.ndarray:
        """The values of ``key`` as text (a key declared text): see :func:`as_text`."""
        if key not in self._texts:
            self._texts[key] = as_text(key, self.raw_values(key), self.origin, self.offset)
        return self._texts[key]

    def text_at(self, key: str, index: int) -> Any:
        """One record's value of ``key`` as text, as :meth:`text` has it."""
        return self.text(key)[index]

    def raw_values(self, key: str) -> Any:
        """The values of ``key`` as close to how they were given as the store holds them
        (what :meth:`text` reads)."""
        return self.raw(key)

    def prefetch(self, keys: Sequence[str]) -> None:
        """About to read these columns together (a store may gather them in one pass)."""

    def float_matrix(self, keys: Sequence[str]) -> Optional[np.ndarray]:
        """The values of ``keys`` side by side as one float64 array (records, keys), when
        the store can read them straight into that shape; ``None`` when they are read
        column by column (and stacked by the caller)."""
        return None


class FrameStore(ColumnStore):
    """Records that are the rows of a DataFrame (from memory, CSV, Parquet or JSON Lines)."""

    columnar = True

    def __init__(self, frame: pd.DataFrame, origin: str, offset: int = 0):
        super().__init__(origin, offset)
        self.frame = frame.reset_index(drop=True)
        self._raw: Dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.frame)

    def keys(self) -> List[str]:
        return [str(c) for c in self.frame.columns]

    def raw(self, key: str) -> np.ndarray:
        if key not in self._raw:
            if key not in self.frame.columns:
                raise DataError(f"{self.origin}: record {self.offset}: missing key '{key}'")
            self._raw[key] = self.frame[key].to_numpy()
        return self._raw[key]

    def record(self, index: int) -> Dict[str, Any]:
        return {key: _scalar(self.raw(key)[index]) for key in self.frame.columns}


class RowStore(ColumnStore):
    """Records that are a list of dicts (each column gathered from the dicts once)."""

    def __init__(self, rows: Sequence[Dict[str, Any]], origin: str, offset: int = 0):
        super().__init__(origin, offset)
        self.rows = rows
        self._gathered: Dict[str, np.ndarray] = {}
        self._matrices: Dict[Tuple[str, ...], Optional[np.ndarray]] = {}  # None: tried, not all numbers

    def __len__(self) -> int:
        return len(self.rows)

    def keys(self) -> List[str]:
        return list(self.rows[0]) if len(self.rows) else []

    def prefetch(self, keys: Sequence[str]) -> None:
        """Gather the float columns among ``keys`` in one pass over the dicts: each dict
        is visited once, not once per key (much faster for many keys). Anything else
        (a key missing, a value not a number) is left to :meth:`raw`, which names it."""
        first = self.rows[0] if len(self.rows) else {}
        wanted = [key for key in dict.fromkeys(keys)
                  if key not in self._gathered and key not in self._columns and isinstance(first.get(key), float)]
        if len(wanted) < 2 or self._matrices.get(tuple(wanted), 0) is None:  # one key, or known to fail
            return
        gathered = self._gather_floats(wanted)
        if gathered is not None:
            self._gathered.update(zip(wanted, np.ascontiguousarray(gathered.T)))

    def float_matrix(self, keys: Sequence[str]) -> Optional[np.ndarray]:
        """Keys whose values are all floats are read row by row straight into the
        matrix, each dict visited once; no column is built only to be stacked back. The
        matrix is kept, as columns are (tables hand out copies of it)."""
        wanted = tuple(keys)
        if wanted not in self._matrices:
            first = self.rows[0] if len(self.rows) else {}
            if len(wanted) < 2 or len(set(wanted)) != len(wanted) \
                    or not all(isinstance(first.get(key), float) for key in wanted):
                return None
            self._matrices[wanted] = self._gather_floats(wanted)
        return self._matrices[wanted]

    def _gather_floats(self, keys: Sequence[str]) -> Optional[np.ndarray]:
        """The values of ``keys`` as a (records, keys) float64 array, one pass over the
        dicts; ``None`` when a key is missing or a value is not a number (to be read
        column by column, where the error names the record).

        The C extension reads plain dicts of floats and ints (``float_rows`` in
        ``_speedups.c``). What it declines (a row not a plain dict, a key missing, a
        value not a float, int or bool, the list changed while read), or all of it when
        it was not built, is packed as C doubles by ``struct``, each dict's values in one
        call, and the bytes joined: the fastest way CPython itself has (faster than
        ``np.fromiter`` over the same values).
        ``struct`` takes numbers only. Anything else (``None``, text that may be a
        number) is left to the columns, which read it by the rules a DataFrame's
        columns follow (:func:`clean_column`); ``float()``'s own rules would also read
        ``"1_000"`` or ``"nan"``, which a DataFrame does not."""
        packed = _c_float_rows(self.rows, tuple(keys)) if _c_float_rows is not None else None
        if packed is None:
            row = struct.Struct(f"={len(keys)}d")
            try:
                packed = bytearray().join(itertools.starmap(row.pack, map(operator.itemgetter(*keys), self.rows)))
            except (KeyError, TypeError, OverflowError, struct.error):
                return None
        return np.frombuffer(packed, dtype=np.float64).reshape(len(self.rows), len(keys))

    def raw(self, key: str) -> np.ndarray:
        if key in self._gathered:
            return self._gathered.pop(key)  # converted into a column once; not kept twice
        for keys, matrix in self._matrices.items():
            if matrix is not None and key in keys:
                return np.ascontiguousarray(matrix[:, keys.index(key)])
        if len(self.rows) and isinstance(self.rows[0].get(key), float):  # the common case (or numpy.float64), fastest
            gathered = self._gather_floats((key,))
            if gathered is not None:
                return gathered[:, 0]
        values = self.raw_values(key)
        if values and isinstance(values[0], (list, tuple, np.ndarray)):
            return stack_vectors(key, values, self.origin, self.offset)
        if values and type(values[0]) is int:
            array = np.array(values)
            if array.dtype.kind in "fi":  # every value a plain number (else: text, None, ... below)
                return array
        return pd.Series(values).to_numpy()

    def raw_values(self, key: str) -> List[Any]:
        """The values of ``key`` exactly as the dicts hold them (``"007"`` stays text,
        however the values beside it read)."""
        try:
            return list(map(operator.itemgetter(key), self.rows))
        except KeyError:
            index = next(i for i, row in enumerate(self.rows) if key not in row)
            raise DataError(f"{self.origin}: record {self.offset + index}: missing key '{key}'") from None

    def record(self, index: int) -> Dict[str, Any]:
        return dict(self.rows[index])

    def text_at(self, key: str, index: int) -> Any:
        """As its column has it (the same rule on the same value), without reading the
        column: a key another record lacks is no error for this one."""
        return text_value(key, self.rows[index][key], self.origin, self.offset + index)


class RecordTable(Sequence):
    """A view of a :class:`ColumnStore`: all its records, a slice or a selection.
    ``text_keys`` are the keys read as text (see the module docstring)."""

    def __init__(self, store: ColumnStore, selection: Index = None, text_keys: Iterable[str] = ()):
        self.store = store
        self.selection = selection
        self.text_keys: AbstractSet[str] = frozenset(text_keys)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, origin: str = "records", offset: int = 0,
                   text_keys: Iterable[str] = ()) -> "RecordTable":
        return cls(FrameStore(frame, origin, offset), text_keys=text_keys)

    @classmethod
    def from_rows(cls, rows: Sequence[Dict[str, Any]], origin: str = "records", offset: int = 0,
                  text_keys: Iterable[str] = ()) -> "RecordTable":
        return cls(RowStore(rows, origin, offset), text_keys=text_keys)

    def with_text_keys(self, keys: Iterable[str]) -> "RecordTable":
        """The same records with ``keys`` also read as text."""
        keys = frozenset(keys)
        return self if keys <= self.text_keys else RecordTable(self.store, self.selection, self.text_keys | keys)

    @property
    def origin(self) -> str:
        return self.store.origin

    @property
    def offset(self) -> int:
        """The record number of the store's first record (0 unless a chunk of a stream)."""
        return self.store.offset

    @property
    def is_columnar(self) -> bool:
        """Whether the records were columns to begin with (no per-record work at all)."""
        return self.store.columnar

    def __len__(self) -> int:
        if self.selection is None:
            return len(self.store)
        if isinstance(self.selection, slice):
            return len(range(*self.selection.indices(len(self.store))))
        return len(self.selection)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            start, stop, step = item.indices(len(self))
            return self.take(np.arange(start, stop, step))
        position = self._position(item)
        record = self.store.record(position)
        for key in self.text_keys & record.keys():
            record[key] = self.store.text_at(key, position)  # as its column has it
        return record

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        for position in range(len(self)):
            yield self[position]

    def keys(self) -> List[str]:
        return self.store.keys()

    def column(self, key: str) -> np.ndarray:
        """All values of ``key`` over the table's records, as one array (read-only: see
        :func:`_shared`)."""
        values = self.store.text(key) if key in self.text_keys else self.store.column(key)
        return self._selected(values)

    def columns(self, keys: Sequence[str]) -> List[np.ndarray]:
        """:meth:`column` of each key, gathered together where that is faster."""
        self.store.prefetch([key for key in keys if key not in self.text_keys])
        return [self.column(key) for key in keys]

    def float_matrix(self, keys: Sequence[str]) -> Optional[np.ndarray]:
        """The values of ``keys`` side by side, one row per record, as float64, when the
        store reads them straight into that shape (dicts whose values are floats);
        ``None`` when :meth:`columns` is the way to read them."""
        if not self.text_keys.isdisjoint(keys):
            return None
        values = self.store.float_matrix(keys)
        if values is None:
            return None
        if self.selection is None or isinstance(self.selection, slice):
            return values[self.selection or slice(None)].copy()  # the caller's own, as a stack was
        return values[self.selection]  # a take: a copy already

    def raw_column(self, key: str) -> np.ndarray:
        """The values of ``key`` as they were read (no conversion; text for a key declared
        text), e.g. identifiers."""
        values = self.store.text(key) if key in self.text_keys else self.store.raw(key)
        return self._selected(values)

    def _selected(self, values: np.ndarray) -> np.ndarray:
        if self.selection is None or isinstance(self.selection, slice):
            return _shared(values[self.selection or slice(None)])
        return values[self.selection]  # a take: the caller's own copy

    def record_number(self, position: int) -> int:
        """The number (in the data it came from) of the record at ``position``."""
        return self.offset + self._position(position)

    def record_numbers(self, positions: "Sequence[int] | np.ndarray") -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        if self.selection is None:
            return self.offset + positions
        return self.offset + np.arange(len(self.store))[self.selection][positions]

    def take(self, positions: "Sequence[int] | np.ndarray") -> "RecordTable":
        """The records at ``positions`` (in that order), sharing this table's columns."""
        chosen = np.arange(len(self.store))[self.selection] if self.selection is not None else None
        positions = np.asarray(positions, dtype=np.int64)
        return RecordTable(self.store, positions if chosen is None else chosen[positions], self.text_keys)

    def slice(self, start: int, stop: int) -> "RecordTable":
        """The records ``start`` to ``stop``, sharing this table's columns."""
        if self.selection is None:
            return RecordTable(self.store, slice(start, min(stop, len(self.store))), self.text_keys)
        return self.take(np.arange(start, min(stop, len(self))))

    def shard(self, index: int, count: int) -> "RecordTable":
        """Shard ``index`` (from 0) of ``count`` equal contiguous blocks of the records
        (what :meth:`RecordStream.shard <barrage.records.RecordStream.shard>` does for a
        file without enough row groups)."""
        check_shard(index, count)
        bounds = shard_bounds(len(self), count)
        return self.slice(bounds[index], bounds[index + 1])

    def chunks(self, chunk_rows: int) -> Iterator["RecordTable"]:
        """The records as consecutive tables of at most ``chunk_rows``. Records that are
        dicts become independent tables, each gathering its columns when first used (so
        converting one chunk can overlap work on the previous one); others are views."""
        if not isinstance(self.store, RowStore):
            for start in range(0, len(self), chunk_rows):
                yield self.slice(start, start + chunk_rows)
            return
        positions = np.arange(len(self.store))
        chosen = positions if self.selection is None else positions[self.selection]
        rows = self.store.rows
        for start in range(0, len(chosen), chunk_rows):
            part = chosen[start:start + chunk_rows]
            contiguous = len(part) and bool(np.all(np.diff(part) == 1))
            if not contiguous:  # a selection that jumps: a view is as good as a copy
                yield self.take(np.arange(start, start + len(part)))
                continue
            first = int(part[0])
            yield RecordTable.from_rows(rows[first:first + len(part)], self.origin, self.offset + first,
                                        self.text_keys)

    def to_frame(self) -> pd.DataFrame:
        """The records as a DataFrame (keys declared text as text)."""
        if not isinstance(self.store, FrameStore):
            return pd.DataFrame(list(self))  # its records have their text keys as text
        frame = self.store.frame
        frame = frame if self.selection is None else frame.iloc[self.selection].reset_index(drop=True)
        texts = {key: self.column(key) for key in self.text_keys if key in frame.columns}
        return frame.assign(**texts) if texts else frame

    def _position(self, item: int) -> int:
        if item < 0:
            item += len(self)
        if not 0 <= item < len(self):
            raise IndexError(f"record {item} is out of range ({len(self)} records)")
        if self.selection is None:
            return item
        if isinstance(self.selection, slice):
            return range(*self.selection.indices(len(self.store)))[item]
        return int(self.selection[item])


# -- turning values into columns ---------------------------------------------------------


def check_shard(index: int, count: int) -> None:
    """Refuse shard ``index`` (from 0) of ``count`` unless it is one."""
    if not isinstance(count, int) or count < 1:
        raise DataError(f"shard {index + 1}/{count}: the number of shards must be at least 1")
    if not isinstance(index, int) or not 0 <= index < count:
        raise DataError(f"shard {index + 1}/{count}: the shard number must be between 1 and {count}")


def shard_bounds(total: int, count: int) -> List[int]:
    """The ``count + 1`` bounds of ``count`` contiguous shards of ``total`` records, as
    equal as whole records allow."""
    return [round(total * i / count) for i in range(count + 1)]


def _shared(values: np.ndarray) -> np.ndarray:
    """A read-only view of a column: it is shared by every view of the table and may be
    the very memory of a DataFrame the user holds, so a component that changed it in
    place would change the data under every later batch, and the user's data; NumPy
    refuses the write instead ("assignment destination is read-only")."""
    view = values.view()
    view.flags.writeable = False
    return view


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def stack_vectors(key: str, values: List[Any], origin: str, offset: int = 0) -> np.ndarray:
    """List values of one key as one array with a leading record axis (same shapes)."""
    arrays = [np.asarray(v) for v in values]
    shape = arrays[0].shape
    for index, array in enumerate(arrays):
        if array.shape != shape:
            raise DataError(
                f"{origin}: key '{key}' has shape {array.shape} in record {offset + index} but {shape} "
                f"in record {offset}"
            )
    return np.stack(arrays)


def as_text(key: str, values: "np.ndarray | List[Any]", origin: str, offset: int = 0) -> np.ndarray:
    """The values of a key declared text, as an object array of ``str``: text as it is
    (``bytes`` too), an integer as its digits, a float as :func:`_float_text` writes it
    (``7.0`` is ``"7"``: a column of codes becomes floats beside a missing value),
    true/false as ``"True"``/``"False"``, dates as pandas writes them; a missing value
    (``None``, NaN, NaT) stays missing, as ``None``. A list is refused, naming its record."""
    if isinstance(values, list):  # a list of dicts' values, as given
        texts = np.empty(len(values), dtype=object)
        texts[:] = [text_value(key, value, origin, offset + index) for index, value in enumerate(values)]
        return texts
    if values.ndim != 1:
        raise DataError(f"{origin}: key '{key}' holds vectors (shape {values.shape[1:]} in record {offset}), "
                        "which cannot be text (dataset.text_keys)")
    kind = values.dtype.kind
    if kind in "iuUS":  # integers as their digits; text already
        return values.astype(str).astype(object)
    if kind == "f":
        return _floats_as_text(values)
    if kind in "Mm":  # dates and durations as pandas writes them; NaT is missing
        values = pd.Series(values).astype(object).to_numpy()
    return as_text(key, list(values), origin, offset)


def text_value(key: str, value: Any, origin: str, record: int) -> Optional[Union[str, bytes]]:
    """One value of a key declared text (the rules of :func:`as_text`)."""
    if isinstance(value, (str, bytes)) or value is None:
        return value
    if isinstance(value, (float, np.floating)):
        return _float_text(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int)):
        return str(value)
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        what = "dict" if isinstance(value, dict) else "list"
        raise DataError(f"{origin}: key '{key}', record {record}: a {what} cannot be text (dataset.text_keys)")
    return str(value)


def _float_text(value: Any) -> Optional[str]:
    """A float as text: the integer it holds when whole (and within int64), else as its
    own precision writes it shortest (a float32 ``0.1`` is ``"0.1"``); NaN is missing."""
    if value != value:
        return None
    if np.isfinite(value) and float(value).is_integer() and abs(value) < 2.0**63:
        return str(int(value))
    return str(value)


def _floats_as_text(values: np.ndarray) -> np.ndarray:
    """:func:`_float_text` of every value, vectorised for the common case (whole numbers)."""
    texts = np.full(len(values), None, dtype=object)
    present = ~np.isnan(values)
    with np.errstate(invalid="ignore"):  # inf: not whole, written as "inf"
        whole = present & np.isfinite(values) & (np.mod(values, 1) == 0) & (np.abs(values) < 2.0**63)
    texts[whole] = values[whole].astype(np.int64).astype(str)
    others = present & ~whole
    texts[others] = [str(value) for value in values[others]]
    return texts


def clean_column(key: str, values: np.ndarray, origin: str, offset: int = 0) -> np.ndarray:
    """Numbers stay numbers and text stays text; a column that is mostly numbers with
    a few values that are not is an error naming the first such record (and
    ``dataset.text_keys``, for a column of codes where a few are not digits)."""
    if values.dtype.kind == "c":
        raise _complex_numbers(key, values, origin, offset)
    if values.dtype != object or values.ndim != 1 or len(values) == 0:
        return values
    if isinstance(values[0], (list, tuple, np.ndarray)):
        return stack_vectors(key, list(values), origin, offset)
    numeric, bad = non_numbers(values)
    converts = numeric.notna().to_numpy()
    if not bad.any():
        return numeric.to_numpy() if converts.any() else values
    if bad.sum() >= converts.sum():
        return values  # a text column
    index = int(np.argmax(bad))
    error = not_a_number(origin, key, offset + index, values[index])
    raise DataError(f"{error} (if '{key}' holds codes or categories, not numbers, declare it in dataset.text_keys)")


def _complex_numbers(key: str, values: np.ndarray, origin: str, offset: int) -> DataError:
    """The error for a column of complex numbers, naming the first record whose value has
    an imaginary part (a column of complex numbers with none names no record)."""
    imaginary = np.flatnonzero(values.imag.reshape(len(values), -1).any(axis=1)) if len(values) else np.array([])
    if len(imaginary):
        index = int(imaginary[0])
        return DataError(f"{origin}: column '{key}', record {offset + index}: {complex(values[index])!r} is a complex "
                         "number; Barrage reads real numbers")
    return DataError(f"{origin}: column '{key}' holds complex numbers; Barrage reads real numbers")


def non_numbers(values: np.ndarray) -> "tuple[pd.Series, np.ndarray]":
    """A column of Python values as numbers where they are numbers (or text that reads
    as one), and the mask of the values that are neither a number nor missing."""
    series = pd.Series(values, dtype=object)
    try:
        numeric = pd.to_numeric(series, errors="coerce")
    except OverflowError:  # pandas raises for an integer beyond any float: one that is not a number here
        numeric = pd.to_numeric(series.mask(series.map(_beyond_floats), "too large"), errors="coerce")
    return numeric, (numeric.isna() & series.notna()).to_numpy()


def _beyond_floats(value: Any) -> bool:
    if not isinstance(value, int):
        return False
    try:
        float(value)
    except OverflowError:
        return True
    return False


def not_a_number(origin: str, key: str, record: int, value: Any) -> DataError:
    """The error for a value that should be a number, naming its column and record."""
    return DataError(f"{origin}: column '{key}', record {record}: {_SHORT.repr(value)} cannot become a number")


_SHORT = reprlib.Repr()  # a value in a message: an integer of 400 digits abbreviated, text mostly whole
_SHORT.maxstring = 200
_SHORT.maxlong = 40
