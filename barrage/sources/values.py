"""The dtype rules of batches and the spec every record of a dataset is checked against.

Rules: floats become float32, booleans float32, integers stay integers, text stays text
(an object array of ``str``/``bytes``), sample weights are always float32. The first
record of a dataset fixes each value's dtype and shape (its :class:`BatchSpec`); a later
record must agree (text where text was, numbers that widen safely, the same shape), or it
is refused with a :class:`~barrage.errors.DataError` naming it. Checking each record once,
before stacking, is what lets the batch be cast to the spec without a second check.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

import attrs
import numpy as np
import pandas as pd

from barrage.dataset import PART_WORDS, PARTS, DataRecord, RecordLoader
from barrage.errors import DataError


def normalise(array: Any, where: str, records: Optional[np.ndarray] = None) -> np.ndarray:
    """float32 for floats and booleans; integers stay integers; text stays text. Values
    that are neither all numbers nor all text are refused naming the first odd one, by
    its record number when ``records`` (one per row) is given."""
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
        text = [isinstance(v, (str, bytes)) for v in flat]
        if any(text) and all(t or _blank(v) for t, v in zip(text, flat)):
            return array  # text, maybe with blanks (refused later, naming the record)
        try:
            return array.astype(np.float32)
        except (TypeError, ValueError):
            raise _mixed_values(array, where, records) from None
    raise DataError(f"{where}: unsupported value type {array.dtype}")


def normalise_data_record(data_record: DataRecord, origin: str, records: Optional[np.ndarray] = None) -> DataRecord:
    """:func:`normalise` every value of a data record (batched or not); weights float32."""
    out = []
    for part, values in zip(PARTS, data_record):
        normalised = {}
        for name, value in values.items():
            array = normalise(value, f"{origin}: {part} '{name}'", records)
            normalised[name] = array.astype(np.float32, copy=False) if part == "w" else array
        out.append(normalised)
    return tuple(out)


def _mixed_values(array: np.ndarray, where: str, records: Optional[np.ndarray]) -> DataError:
    """The error for an object array that is neither numbers nor text: its first value
    of the rarer kind (text among numbers, a number among text, or neither)."""
    flat = array.ravel()
    kinds = ["blank" if _blank(v) else "text" if isinstance(v, (str, bytes)) else _number_kind(v) for v in flat]
    text, numbers = kinds.count("text"), kinds.count("number")
    odd = "number" if text > numbers else "text"
    position = next((i for i, kind in enumerate(kinds) if kind in (odd, "other")), 0)
    if records is not None and array.ndim:  # a batch: name the record of the row
        place = f"record {int(records[position // max(1, flat.size // max(1, len(array)))])}"
    else:  # one record's value
        place = f"value {position}"
    described = {"text": "text among numbers", "number": "a number among text"}
    among = described.get(kinds[position], "neither a number nor text")
    return DataError(f"{where}: {place}: {flat[position]!r} is {among}")


def _number_kind(value: Any) -> str:
    try:
        float(value)
    except (TypeError, ValueError):
        return "other"
    return "number"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


@attrs.frozen
class ValueSpec:
    """One value of every record: its part, name, dtype (``None`` for text) and shape."""

    part: str
    name: str
    dtype: Optional[np.dtype]
    shape: Tuple[int, ...]

    def problem(self, value: np.ndarray) -> Optional[str]:
        """Why ``value`` (one record's, normalised) cannot join a batch of this spec."""
        if value.shape != self.shape:
            return f"has shape {value.shape} but {self.shape} in record 0"
        text = value.dtype.kind in "OUS"
        if self.dtype is None:
            return None if text else f"holds numbers ({value.ravel()[0]!r}) but record 0 holds text"
        if text:
            return f"holds text ({_first_text(value)!r}) but record 0 holds numbers"
        if not np.can_cast(value.dtype, self.dtype, casting="same_kind"):
            return f"holds {value.dtype} values but record 0 gave {self.dtype}"
        return None


@attrs.frozen
class BatchSpec:
    """The values of a dataset's records, in data-record order (fixed by its first record)."""

    values: Tuple[ValueSpec, ...]

    @classmethod
    def of_record(cls, data_record: DataRecord) -> "BatchSpec":
        """The spec of one normalised (unbatched) data record."""
        return cls(tuple(
            ValueSpec(part, name, _dtype_of(np.asarray(value)), np.shape(value))
            for part, values in zip(PARTS, data_record)
            for name, value in values.items()
        ))

    @classmethod
    def of_batch(cls, batch: DataRecord) -> "BatchSpec":
        """The spec of the records of one normalised batched data record."""
        return cls.of_record(tuple({name: value[0] for name, value in part.items()} for part in batch))

    def names(self, part: str) -> List[str]:
        return [value.name for value in self.values if value.part == part]

    @property
    def parts(self) -> Tuple[str, ...]:
        return tuple(part for part in PARTS if any(value.part == part for value in self.values))

    def check(self, data_record: DataRecord, where: str) -> None:
        """Raise a ``DataError`` (``where`` names the record) unless the record fits."""
        by_part = dict(zip(PARTS, data_record))
        for spec in self.values:
            values = by_part.get(spec.part, {})
            problem = spec.problem(np.asarray(values[spec.name])) if spec.name in values else "is missing"
            if problem:
                raise DataError(f"{where}: {spec.part} '{spec.name}' {problem}")

    def flatten(self, batch: DataRecord) -> List[np.ndarray]:
        """The arrays of a stacked batch in spec order, cast to the spec's dtypes (the
        records were checked, so each cast widens safely)."""
        return [
            np.asarray(value) if spec.dtype is None else np.asarray(value).astype(spec.dtype, copy=False)
            for spec, value in self._pair(batch)
        ]

    def empty(self) -> DataRecord:
        """A batch of no records: every array of this spec with a leading axis of 0."""
        return self.unflatten([np.zeros((0, *spec.shape), dtype=object if spec.dtype is None else spec.dtype)
                               for spec in self.values])

    def unflatten(self, arrays: List[Any]) -> DataRecord:
        """The inverse of :meth:`flatten`: a data record of ``arrays`` (numpy or tensors)."""
        parts: Dict[str, Dict[str, Any]] = {}
        for spec, array in zip(self.values, arrays):
            parts.setdefault(spec.part, {})[spec.name] = array
        return tuple(parts[part] for part in self.parts)

    def _pair(self, data_record: DataRecord) -> Iterator[Tuple[ValueSpec, Any]]:
        by_part = dict(zip(PARTS, data_record))
        for spec in self.values:
            yield spec, by_part[spec.part][spec.name]


# -- values that cannot train -----------------------------------------------------------


@attrs.frozen
class BadValue:
    """Where a batched data record holds a value Barrage refuses to train or score on."""

    part: str
    name: str
    row: int
    position: Tuple[int, ...]
    what: str  # "NaN", "inf", "a blank", "label 7 outside [0, 3)"

    def message(self, origin: str, record: int, loader: Optional[RecordLoader] = None) -> str:
        """``origin: record N, column 'k': what (input 'x')`` (the column when the loader
        can tell which record key the value came from)."""
        column = loader.column_of(self.part, self.name, self.position) if loader is not None else None
        where = f", column '{column}'" if column else ""
        index = "".join(f"[{i}]" for i in self.position)
        return f"{origin}: record {record}{where}: {self.what} ({PART_WORDS[self.part]} '{self.name}'{index})"


def first_missing(data_record: DataRecord) -> Optional[BadValue]:
    """The first NaN, infinite or blank value of a batched data record, or ``None``.

    Numbers must be finite; text must not be blank (``None``/NaN). Vectorised: one
    ``isfinite`` (or ``isna``) per array.
    """
    for part, values in zip(PARTS, data_record):
        for name, value in values.items():
            bad = first_bad_value(value, part, name)
            if bad is not None:
                return bad
    return None


def first_bad_value(value: Any, part: str, name: str, allow_nan: bool = False) -> Optional[BadValue]:
    """The first NaN, infinite or blank entry of one batched value (``allow_nan``: only
    infinities count), or ``None``."""
    array = np.asarray(value)
    if array.dtype.kind == "f":
        bad = np.isinf(array) if allow_nan else ~np.isfinite(array)
    elif array.dtype.kind == "O" and not allow_nan:
        bad = np.asarray(pd.isna(array), dtype=bool)
    else:
        return None
    if not bad.any():
        return None
    flat = int(np.argmax(bad.ravel()))
    row, *position = np.unravel_index(flat, array.shape) if array.ndim else (0,)
    found = array.ravel()[flat]
    what = "a blank" if array.dtype.kind == "O" else ("NaN" if np.isnan(found) else str(found))
    return BadValue(part, name, int(row), tuple(int(p) for p in position), what)


def refuse_missing(data_record: DataRecord, origin: str, records: np.ndarray, loader: RecordLoader) -> None:
    """A ``DataError`` naming the record and column of the first missing or non-finite
    value (``records[row]`` is the record behind each row of the batch)."""
    bad = first_missing(data_record)
    if bad is not None:
        raise DataError(
            bad.message(origin, int(records[bad.row]), loader)
            + "; Barrage does not train or score on missing values: clean the data or fill them "
            "(e.g. the Standardizer's fill_missing)"
        )


@attrs.frozen
class LabelRange:
    """Integer class labels of output ``name`` for a sparse loss: ``0 <= label < classes``
    (``ignore``, if set, is also allowed)."""

    name: str
    classes: int
    ignore: Optional[int] = None

    def first_outside(self, labels: Any) -> Optional[BadValue]:
        array = np.asarray(labels)
        if array.dtype.kind not in "biuf":
            what = "text" if array.dtype.kind in "OUS" else f"values of type {array.dtype}"
            return BadValue("y", self.name, 0, (), f"{what} where class ids 0..{self.classes - 1} are expected "
                                                   "(CategoricalEncoder, from barrage-tabular, turns labels into ids)")
        whole = np.isfinite(array) & (array == np.floor(array)) if array.dtype.kind == "f" else True
        bad = ~(whole & (array >= 0) & (array < self.classes))
        if self.ignore is not None:
            bad &= array != self.ignore
        if not np.any(bad):
            return None
        flat = int(np.argmax(np.ravel(bad)))
        row, *position = np.unravel_index(flat, array.shape) if array.ndim else (0,)
        value = array.ravel()[flat].item()
        return BadValue("y", self.name, int(row), tuple(int(p) for p in position),
                        f"label {value!r} is not a class id in [0, {self.classes})")


def _dtype_of(value: np.ndarray) -> Optional[np.dtype]:
    return None if value.dtype.kind in "OUS" else value.dtype


def _first_text(value: np.ndarray) -> Any:
    """The first element of ``value`` that is not a number (what a user must fix)."""
    for element in value.ravel():
        try:
            float(element)
        except (TypeError, ValueError):
            return element
    return value.ravel()[0]
