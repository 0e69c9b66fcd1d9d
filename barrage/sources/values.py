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

from barrage.dataset import PARTS, DataRecord
from barrage.errors import DataError


def normalise(array: Any, where: str) -> np.ndarray:
    """float32 for floats and booleans; integers stay integers; text stays text."""
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
    """:func:`normalise` every value of a data record (batched or not); weights float32."""
    out = []
    for part, values in zip(PARTS, data_record):
        normalised = {}
        for name, value in values.items():
            array = normalise(value, f"{origin}: {part} '{name}'")
            normalised[name] = array.astype(np.float32, copy=False) if part == "w" else array
        out.append(normalised)
    return tuple(out)


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
