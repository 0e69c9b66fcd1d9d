"""Writing scores: ``.csv``, ``.json``, ``.jsonl`` or ``.parquet``, chunk by chunk.

Scores arrive as *columns*: one array per output, a leading record axis (what the network
and a vectorised transformer's ``postprocess`` give), optionally after *kept* columns
copied from the input (``--keep``). A :class:`ScoreWriter` writes them chunk after chunk
to a temporary file (``.barrage-tmp-*``) renamed over the output when it is complete, so a
crash leaves no half-written scores and memory does not grow with the number of records.

Layouts: ``.csv`` has one column per scalar output and ``name_0, name_1, ...`` for a vector
output; ``.parquet`` keeps vectors as fixed-size lists; ``.json`` (one array) and
``.jsonl`` (one object a line) hold one object per record, vectors as lists.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from barrage import artifacts
from barrage.errors import DataError

SCORE_EXTENSIONS = (".csv", ".json", ".jsonl", ".parquet")
Columns = Mapping[str, np.ndarray]


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
        self._handle: Any = None
        self._writer: Any = None
        self._schema: Any = None
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
        if exc is not None:
            self._discard()

    def _finish(self) -> None:
        if self._handle is None and self._writer is None:
            self._start_empty()
            self._close()
        artifacts.replace_with(self._temporary, self.path)

    def write(self, scores: Columns, kept: Optional[Columns] = None) -> None:
        """Append one chunk: ``kept`` input columns first, then the score columns."""
        for name in sorted(set(kept or {}) & set(scores)):
            raise DataError(f"--keep {name}: the scores have an output named '{name}' too")
        columns = {**(kept or {}), **scores}
        if not columns:
            return
        rows = len(next(iter(columns.values())))
        try:
            _WRITERS[self.extension](self, columns)
        except OSError as exc:
            raise artifacts.write_error(self.path, exc) from None
        self.count += rows

    # -- formats ------------------------------------------------------------------------

    def _write_json(self, columns: Columns) -> None:
        lines = (json.dumps(record, default=_json_default) for record in records_of(columns))
        if self.extension == ".jsonl":
            self._text().writelines(line + "\n" for line in lines)
            return
        handle = self._text()
        for line in lines:
            handle.write(",\n" + line if self._records_written else "[\n" + line)
            self._records_written = True

    def _write_csv(self, columns: Columns) -> None:
        import pyarrow.csv as pc

        table = _arrow_table(_flat_columns(columns))
        if self._writer is None:
            self._schema = table.schema
            self._writer = pc.CSVWriter(self._temporary, table.schema,
                                        write_options=pc.WriteOptions(quoting_style="needed"))
        self._writer.write_table(_conformed(table, self._schema, self.path))

    def _write_parquet(self, columns: Columns) -> None:
        import pyarrow.parquet as pq

        table = _arrow_table(columns)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._temporary, table.schema)
        self._writer.write_table(_conformed(table, self._schema, self.path))

    def _text(self) -> Any:
        if self._handle is None:
            self._handle = open(self._temporary, "x", encoding="utf-8", newline="")
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
            matrix = array.reshape(len(array), -1)
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
            flat = array.reshape(len(array), -1)
            arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])
        else:
            arrays[name] = pa.array(list(array) if array.dtype == object else array)
    return pa.table(arrays)


def _conformed(table: Any, schema: Any, path: str) -> Any:
    """A later chunk in the first chunk's schema (e.g. integers where the first had floats)."""
    if table.schema == schema:
        return table
    try:
        return table.cast(schema)
    except Exception as exc:  # pyarrow's casting errors
        raise DataError(f"{path}: a chunk of scores does not fit the columns of the first: {exc}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} cannot be written as JSON")
