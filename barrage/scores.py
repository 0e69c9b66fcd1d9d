"""Writing scores: ``.csv``, ``.json``, ``.jsonl`` or ``.parquet``, chunk by chunk.

Scores arrive as *columns*: one array per output, a leading record axis (what the network
and a vectorised transformer's ``postprocess`` give), optionally after *kept* columns
copied from the input (``--keep``). A :class:`ScoreWriter` writes them chunk after chunk
to a temporary file (``.barrage-tmp-*``) renamed over the output when it is complete, so a
crash leaves no half-written scores and memory does not grow with the number of records.

Layouts: ``.csv`` has one column per scalar output and ``name_0, name_1, ...`` for a vector
output; ``.parquet`` keeps vectors as fixed-size lists; ``.json`` (one array) and
``.jsonl`` (one object a line) hold one object per record, vectors as lists, a missing or
not-a-number value as ``null``.

Kept columns keep the type of the first chunk (a reader guesses types chunk by chunk:
an identifier column read as integers may come back as floats where a later chunk has a
missing value); a later chunk that does not fit that type is refused naming the column
and the chunk's first record. Values of mixed Python types are copied as text.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from barrage import artifacts
from barrage.errors import DataError
from barrage.outputs import KEPT, refuse_input, refuse_run_files

SCORE_EXTENSIONS = (".csv", ".json", ".jsonl", ".parquet")
Columns = Mapping[str, np.ndarray]


def check_scores_output(path: str, overwrite: bool, artifact_dir: str, data: Any) -> None:
    """Everything :func:`check_output_path` refuses, and an output that would replace a
    file of the run in ``artifact_dir`` or the input ``data`` itself (even with
    ``overwrite``). Called before any scoring work, by the command and the API alike."""
    check_output_path(path, overwrite)
    refuse_run_files(path, artifact_dir)
    refuse_input(path, data)


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
        raise DataError(f"{path}: {KEPT}")


def columns_of(scores: Sequence[Mapping[str, Any]]) -> Dict[str, np.ndarray]:
    """Per-record score dicts as columns (one array per name, in the first record's order)."""
    if not scores:
        return {}
    return {name: _stack([score[name] for score in scores]) for name in scores[0]}


def records_of(columns: Columns) -> List[Dict[str, Any]]:
    """Columns as one dict per record (what ``predict`` returns)."""
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*(columns[name] for name in names))]


def _stack(values: List[Any]) -> np.ndarray:
    arrays = [np.asarray(value) for value in values]
    if any(a.dtype.kind in "OUS" for a in arrays) or len({a.shape for a in arrays}) > 1:
        stacked = np.empty(len(values), dtype=object)
        stacked[:] = [v if np.ndim(v) == 0 else np.asarray(v) for v in values]
        return stacked
    return np.stack(arrays)


class ScoreWriter:
    """Writes score columns chunk by chunk (see the module docstring); use it as a
    context manager: the output appears when the block ends without error."""

    def __init__(self, path: str, overwrite: bool = False):
        check_output_path(path, overwrite)
        self.path = path
        self.extension = os.path.splitext(path)[1].lower()
        self.count = 0
        artifacts.remove_leftovers(os.path.dirname(os.path.abspath(path)), os.path.basename(path))
        self._temporary = artifacts.temporary_path(path)
        try:  # held while it is written: another job's cleanup leaves it alone
            self._lock: Optional[int] = artifacts.hold(self._temporary)
        except OSError as exc:
            raise artifacts.write_error(path, exc) from None
        self._handle: Any = None
        self._writer: Any = None
        self._schema: Any = None
        self._kept_types: Optional[List[Any]] = None  # the first chunk's, which later ones keep
        self._records_written = False

    def __enter__(self) -> "ScoreWriter":
        return self

    def __exit__(self, kind: Any, exc: Any, traceback: Any) -> None:
        try:
            self._close()
            if exc is None:
                self._finish()
        except OSError as error:
            self._discard()
            raise artifacts.write_error(self.path, error) from None
        except BaseException:
            self._discard()
            raise
        finally:
            artifacts.release(self._lock)
            self._lock = None
        if exc is not None:
            self._discard()

    def _finish(self) -> None:
        if self._handle is None and self._writer is None:
            self._start_empty()
            self._close()
        artifacts.replace_with(self._temporary, self.path)

    def write(self, scores: Columns, kept: Optional[Columns] = None, first_record: int = 0) -> None:
        """Append one chunk: ``kept`` input columns first, then the score columns;
        ``first_record`` is the number of the chunk's first record (for error messages)."""
        kept_table = self._kept_table(kept, scores, first_record) if kept else None
        if scores:
            rows = len(next(iter(scores.values())))
        elif kept_table is not None:
            rows = kept_table.num_rows
        else:
            return
        try:
            _WRITERS[self.extension](self, scores, kept_table)
        except OSError as exc:
            raise artifacts.write_error(self.path, exc) from None
        except (TypeError, ValueError, NotImplementedError) as exc:  # values the format cannot hold (pyarrow, json)
            reason = " ".join(str(exc).split())
            raise DataError(f"{self.path}: the scores cannot be written as {self.extension}: {reason}") from None
        self.count += rows

    def refuse_clashes(self, kept: Sequence[str], scores: Optional[Columns]) -> None:
        """A kept column named as a column of the scores is refused. ``scores`` may be
        any chunk's (the columns are the same), even one of no record, so that the check
        comes before any prediction; ``None`` (not known yet) checks nothing."""
        if scores is None:
            return
        written = _flat_columns(scores) if self.extension == ".csv" else scores
        for name in kept:
            if name in scores:
                raise DataError(f"--keep {name}: the scores have an output named '{name}' too")
            if name in written:
                raise DataError(f"--keep {name}: the CSV scores have a column named '{name}' too (a vector output's)")

    def _kept_table(self, kept: Columns, scores: Columns, first_record: int) -> Any:
        """The kept columns as an Arrow table in the first chunk's types (see the module
        docstring); on the first chunk, a name that is also a column of the scores is
        refused (later chunks have the same columns)."""
        import pyarrow as pa

        if self._kept_types is None:
            self.refuse_clashes(list(kept), scores)
        arrays = [_kept_array(name, values) for name, values in kept.items()]
        if self._kept_types is None:
            # a column with no value at all in the first chunk says nothing of its type: text
            self._kept_types = [pa.string() if array.null_count == len(array) else array.type for array in arrays]
            for name, kind in zip(kept, self._kept_types):
                if self.extension == ".csv" and pa.types.is_nested(kind):
                    raise DataError(f"--keep {name}: a column of {kind} cannot be written to CSV; "
                                    "score into .parquet or .jsonl")
        return pa.table([_cast_kept(name, array, kind, first_record) for name, array, kind
                         in zip(kept, arrays, self._kept_types)], names=list(kept))

    # -- formats ------------------------------------------------------------------------

    def _write_json(self, scores: Columns, kept: Any) -> None:
        values = {} if kept is None else {name: kept.column(name).to_pylist() for name in kept.column_names}
        values.update((name, _json_values(array)) for name, array in scores.items())
        names = list(values)
        lines = (json.dumps(dict(zip(names, row)), default=_json_default) for row in zip(*values.values()))
        if self.extension == ".jsonl":
            self._text().writelines(line + "\n" for line in lines)
            return
        handle = self._text()
        for line in lines:
            handle.write(",\n" + line if self._records_written else "[\n" + line)
            self._records_written = True

    def _write_csv(self, scores: Columns, kept: Any) -> None:
        import pyarrow.csv as pc

        table = _beside(kept, _arrow_table(_flat_columns(scores)))
        if self._writer is None:
            self._schema = table.schema
            self._writer = pc.CSVWriter(self._temporary, table.schema,
                                        write_options=pc.WriteOptions(quoting_style="needed"))
        self._writer.write_table(_conformed(table, self._schema, self.path))

    def _write_parquet(self, scores: Columns, kept: Any) -> None:
        import pyarrow.parquet as pq

        table = _beside(kept, _arrow_table(scores))
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._temporary, table.schema)
        self._writer.write_table(_conformed(table, self._schema, self.path))

    def _text(self) -> Any:
        if self._handle is None:
            self._handle = open(self._temporary, "w", encoding="utf-8", newline="")  # made by hold()
        return self._handle

    def _start_empty(self) -> None:
        """No scores at all: an empty file of the format."""
        if self.extension == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(self._temporary, pa.schema([]))
        else:
            self._text()

    def _close(self) -> None:
        if self._handle is not None:
            if self.extension == ".json":
                self._handle.write("\n]\n" if self._records_written else "[]\n")
            self._handle.close()
        if self._writer is not None:
            self._writer.close()

    def _discard(self) -> None:
        try:
            os.unlink(self._temporary)
        except OSError:
            pass


_WRITERS = {
    ".json": ScoreWriter._write_json, ".jsonl": ScoreWriter._write_json,
    ".csv": ScoreWriter._write_csv, ".parquet": ScoreWriter._write_parquet,
}


def write_scores(scores: Sequence[Mapping[str, Any]], path: str, overwrite: bool = False) -> None:
    """Write per-record score dicts (what ``predict`` returns) to ``path`` in one go."""
    with ScoreWriter(path, overwrite) as writer:
        writer.write(columns_of(scores))


# -- helpers -----------------------------------------------------------------------------


def _flat_columns(columns: Columns) -> Dict[str, np.ndarray]:
    """Vector columns split into ``name_0, name_1, ...`` (CSV has no lists)."""
    flat: Dict[str, np.ndarray] = {}
    for name, values in columns.items():
        array = np.asarray(values)
        if array.dtype != object and array.ndim > 1:
            matrix = _rows(array)
            flat.update({f"{name}_{i}": matrix[:, i] for i in range(matrix.shape[1])})
        else:
            flat[name] = array
    return flat


def _arrow_table(columns: Columns) -> Any:
    import pyarrow as pa

    arrays = {}
    for name, values in columns.items():
        array = np.asarray(values)
        if array.dtype != object and array.ndim > 1:
            arrays[name] = _fixed_size_lists(array)
        else:
            arrays[name] = pa.array(list(array) if array.dtype == object else array)
    return pa.table(arrays)


def _fixed_size_lists(array: np.ndarray) -> Any:
    """A numeric array of more than one axis as one fixed-size list per row."""
    import pyarrow as pa

    flat = _rows(array)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])


def _rows(array: np.ndarray) -> np.ndarray:
    """One flat row per record (an empty chunk too, which ``reshape(n, -1)`` refuses)."""
    return array.reshape(len(array), int(np.prod(array.shape[1:])))


def _beside(kept: Any, scores: Any) -> Any:
    """One table: the kept columns, then the scores."""
    import pyarrow as pa

    if kept is None:
        return scores
    return pa.table(kept.columns + scores.columns, names=kept.column_names + scores.column_names)


def _kept_array(name: str, values: Any) -> Any:
    """A kept input column as Arrow, NaN and ``None`` as missing; Python values of mixed
    types (numbers and text in one JSON key) as text."""
    import pyarrow as pa

    if isinstance(values, np.ndarray) and values.dtype != object and values.ndim > 1:
        return _fixed_size_lists(values)
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        pass
    try:
        return pa.array([None if _missing(value) else str(value) for value in values], type=pa.string())
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DataError(f"--keep {name}: cannot be written: {exc}") from None


def _cast_kept(name: str, array: Any, kind: Any, first_record: int) -> Any:
    if array.type == kind:
        return array
    try:
        return array.cast(kind)
    except Exception as exc:  # noqa: BLE001 - pyarrow's casting errors
        raise DataError(f"--keep {name}: the values from record {first_record} on do not fit the column's type "
                        f"in the records before ({kind}): {exc}") from None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _json_values(values: Any) -> List[Any]:
    """A column as Python values for JSON, a not-a-number as ``None`` (JSON has no NaN)."""
    array = np.asarray(values)
    if array.dtype.kind == "f" and np.isnan(array).any():
        cleaned = array.astype(object)
        cleaned[np.isnan(array)] = None
        return cleaned.tolist()
    return array.tolist()


def _conformed(table: Any, schema: Any, path: str) -> Any:
    """A later chunk in the first chunk's schema (e.g. integers where the first had floats)."""
    if table.schema == schema:
        return table
    try:
        return table.cast(schema)
    except Exception as exc:  # pyarrow's casting errors
        raise DataError(f"{path}: a chunk of scores does not fit the columns of the first: {exc}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return _json_values(value)
    if isinstance(value, (datetime.date, datetime.time)):  # datetimes too: ISO 8601
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, datetime.timedelta)):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot be written as JSON")
