"""Reading records: lists of dicts, DataFrames and files, into one ``RecordTable``.

A ``RecordTable`` is a read-only sequence of record dicts (what per-record loaders and
transformers see) that can also hand out whole columns as arrays (what vectorised
loaders use). It never builds a dict per record unless a per-record component asks.
"""

from __future__ import annotations

import json
import operator
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from barrage.errors import DataError

SUPPORTED_EXTENSIONS = (".csv", ".json", ".jsonl", ".parquet")
RecordsLike = Union["RecordTable", Sequence[Dict[str, Any]], pd.DataFrame, str, os.PathLike]


class RecordTable(Sequence):
    """Records held either as a list of dicts or as a DataFrame's columns."""

    def __init__(
        self,
        rows: Optional[Sequence[Dict[str, Any]]] = None,
        frame: Optional[pd.DataFrame] = None,
        origin: str = "records",
    ):
        if (rows is None) == (frame is None):
            raise ValueError("give exactly one of rows or frame")
        self._rows = rows
        self._frame = frame
        self._columns: Dict[str, np.ndarray] = {}
        self.origin = origin

    def __len__(self) -> int:
        return len(self._rows) if self._rows is not None else len(self._frame)  # type: ignore[arg-type]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            return self.take(np.arange(start, stop, step))
        if self._rows is not None:
            return dict(self._rows[index])
        if index < 0:
            index += len(self)
        return {key: _scalar(self._frame_column(key)[index]) for key in self._frame.columns}  # type: ignore

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        for index in range(len(self)):
            yield self[index]

    @property
    def is_columnar(self) -> bool:
        """Whether columns come straight from a DataFrame (no per-record work at all)."""
        return self._frame is not None

    def column(self, key: str) -> np.ndarray:
        """All values of ``key`` as one array; names the record when a value is bad."""
        if key not in self._columns:
            if self._frame is not None:
                if key not in self._frame.columns:
                    raise DataError(f"{self.origin}: record 0: missing key '{key}'")
                values = self._frame_column(key)
            else:
                values = self._row_column(key)
            self._columns[key] = _clean_column(key, values, self.origin)
        return self._columns[key]

    def _frame_column(self, key: str) -> np.ndarray:
        return self._frame[key].to_numpy()  # type: ignore[index]

    def _row_column(self, key: str) -> np.ndarray:
        try:
            values = list(map(operator.itemgetter(key), self._rows))  # type: ignore[arg-type]
        except KeyError:
            index = next(i for i, row in enumerate(self._rows) if key not in row)  # type: ignore[arg-type]
            raise DataError(f"{self.origin}: record {index}: missing key '{key}'") from None
        if values and isinstance(values[0], (list, tuple, np.ndarray)):
            return _stack_vectors(key, values, self.origin)
        return pd.Series(values).to_numpy()

    def to_frame(self) -> pd.DataFrame:
        """The records as a DataFrame."""
        return self._frame if self._frame is not None else pd.DataFrame(list(self._rows))  # type: ignore[arg-type]

    def take(self, indices: "Sequence[int] | np.ndarray") -> "RecordTable":
        """A table of the records at ``indices`` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)
        if self._frame is not None:
            return RecordTable(frame=self._frame.iloc[indices].reset_index(drop=True), origin=self.origin)
        return RecordTable(rows=[self._rows[i] for i in indices], origin=self.origin)  # type: ignore[index]

    def slice(self, start: int, stop: int) -> "RecordTable":
        """The records ``start`` to ``stop`` (a view for DataFrames, a list slice otherwise)."""
        if self._frame is not None:
            return RecordTable(frame=self._frame.iloc[start:stop], origin=self.origin)
        return RecordTable(rows=self._rows[start:stop], origin=self.origin)  # type: ignore[index]


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _stack_vectors(key: str, values: List[Any], origin: str) -> np.ndarray:
    arrays = [np.asarray(v) for v in values]
    shape = arrays[0].shape
    for index, array in enumerate(arrays):
        if array.shape != shape:
            raise DataError(
                f"{origin}: key '{key}' has shape {array.shape} in record {index} but {shape} in record 0"
            )
    return np.stack(arrays)


def _clean_column(key: str, values: np.ndarray, origin: str) -> np.ndarray:
    """Numbers stay numbers and text stays text; a column that is mostly numbers with
    a few values that are not is an error naming the first such record."""
    if values.dtype != object or values.ndim != 1 or len(values) == 0:
        return values
    if isinstance(values[0], (list, tuple, np.ndarray)):
        return _stack_vectors(key, list(values), origin)
    series = pd.Series(values, dtype=object)
    numeric = pd.to_numeric(series, errors="coerce")
    converts = numeric.notna().to_numpy()
    bad = ~converts & series.notna().to_numpy()
    if not bad.any():
        return numeric.to_numpy() if converts.any() else values
    if bad.sum() >= converts.sum():
        return values  # a text column
    index = int(np.argmax(bad))
    raise DataError(f"{origin}: column '{key}', record {index}: {values[index]!r} cannot become a number")


# -- reading --------------------------------------------------------------------------


def read_records(source: RecordsLike, name: str = "records") -> RecordTable:
    """Read records from a list of dicts, a DataFrame, a RecordTable or a file path.

    Files: ``.csv``, ``.json`` (an array of objects), ``.jsonl`` (one object a line) and
    ``.parquet``. An empty record set is an error.
    """
    if isinstance(source, RecordTable):
        table = source
    elif isinstance(source, pd.DataFrame):
        table = RecordTable(frame=source.reset_index(drop=True), origin=name)
    elif isinstance(source, (str, os.PathLike)):
        table = _read_file(os.fspath(source))
    elif isinstance(source, Sequence) and not isinstance(source, (bytes, str)):
        for index, record in enumerate(source):
            if not isinstance(record, dict):
                raise DataError(f"{name}: record {index} is a {type(record).__name__}, not a dict")
        table = RecordTable(rows=source, origin=name)  # type: ignore[arg-type]
    else:
        raise DataError(
            f"{name}: expected a list of dicts, a pandas DataFrame or a file path, got {type(source).__name__}"
        )
    if len(table) == 0:
        raise DataError(f"{table.origin}: no records")
    return table


def _read_file(path: str) -> RecordTable:
    extension = os.path.splitext(path)[1].lower()
    if extension not in SUPPORTED_EXTENSIONS:
        raise DataError(
            f"{path}: unsupported file type '{extension or '(none)'}'; supported: {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        if extension == ".csv":
            return RecordTable(frame=pd.read_csv(path), origin=path)
        if extension == ".parquet":
            return RecordTable(frame=pd.read_parquet(path), origin=path)
        if extension == ".json":
            return RecordTable(rows=_read_json_array(path), origin=path)
        return RecordTable(rows=_read_json_lines(path), origin=path)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: no records") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from None
    except Exception as exc:  # pyarrow and friends raise their own types
        raise DataError(f"{path}: cannot be read: {type(exc).__name__}: {exc}") from None


def _read_json_array(path: str) -> List[Dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of objects, got a JSON {type(data).__name__}")
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise DataError(f"{path}: record {index} is not a JSON object")
    return data


def _read_json_lines(path: str) -> List[Dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {line_number}: invalid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}: line {line_number}: not a JSON object")
            records.append(record)
    return records


# -- writing scores -------------------------------------------------------------------

SCORE_EXTENSIONS = (".json", ".jsonl", ".csv")


def check_output_path(path: str, overwrite: bool = False) -> None:
    """A ``DataError`` if scores cannot be written to ``path``: an unknown extension, a
    folder that does not exist, is not a folder or is not writable, a directory at the
    path, or an existing file without ``overwrite``. Called before any scoring work."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in SCORE_EXTENSIONS:
        raise DataError(f"{path}: unsupported output type '{extension or '(none)'}'; use {', '.join(SCORE_EXTENSIONS)}")
    folder = os.path.dirname(os.path.abspath(path))
    parent = folder
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise DataError(f"{path}: cannot be written: {parent} is a file, not a folder")
    if parent != folder:
        raise DataError(f"{path}: cannot be written: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a folder; give a file name for the scores")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{path}: cannot be written: the folder {folder} is not writable")
    if os.path.lexists(path) and not overwrite:
        raise DataError(f"{path}: already exists; remove it or pass --overwrite")


def write_scores(scores: Sequence[Dict[str, Any]], path: str, overwrite: bool = False) -> None:
    """Write scores as ``.json`` (an array), ``.jsonl`` or ``.csv`` (vectors become
    ``name_0, name_1, ...`` columns), atomically (temporary files a killed earlier run
    left for the same output are removed). An existing file is kept unless
    ``overwrite`` is set."""
    from barrage.artifacts import atomic_writer, remove_leftovers

    check_output_path(path, overwrite)
    remove_leftovers(os.path.dirname(os.path.abspath(path)), os.path.basename(path))
    extension = os.path.splitext(path)[1].lower()
    plain = [{name: np.asarray(value).tolist() for name, value in score.items()} for score in scores]
    with atomic_writer(path, newline="") as out:
        if extension == ".json":
            json.dump(plain, out)
            out.write("\n")
        elif extension == ".jsonl":
            for score in plain:
                out.write(json.dumps(score) + "\n")
        else:
            pd.DataFrame([_flat_score(score) for score in plain]).to_csv(out, index=False)


def _flat_score(score: Dict[str, Any]) -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    for name, value in score.items():
        values = np.asarray(value).ravel()
        if np.ndim(value) == 0:
            flat[name] = value
        else:
            flat.update({f"{name}_{i}": v for i, v in enumerate(values.tolist())})
    return flat
