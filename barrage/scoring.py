"""Scoring: records in, postprocessed scores out, chunk by chunk.

Records arrive as in-memory chunks (a file is read chunk by chunk, records in memory are
one chunk). While the network predicts one chunk, the next one is read, loaded and
transformed in a background thread (reading, parsing and NumPy work release the
interpreter), so a large file flows through with memory that does not depend on its
size. Scores leave as columns (one array per output), to be written
(:mod:`barrage.scores`) or gathered.

Hooks: ``barrage_pre_score`` once with the records, ``barrage_post_score`` once per chunk
with that chunk's scores (one dict per record; only built when a plugin implements the
hook), ``barrage_score_end`` once with the number of records scored.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import attrs
import numpy as np

from barrage.dataset import RecordMode, RecordTransformer, unstack_data_record
from barrage.errors import DataError
from barrage.model import check_against_network
from barrage.records import CHUNK_ROWS, RecordsLike, RecordStream, RecordTable, open_records
from barrage.records.table import check_shard
from barrage.scores import columns_of, records_of
from barrage.sources import BatchSource, make_batch_source

Columns = Dict[str, np.ndarray]


@attrs.frozen
class Shard:
    """Shard ``index`` (from 0) of ``count`` contiguous blocks of the records."""

    index: int
    count: int

    def __attrs_post_init__(self) -> None:
        check_shard(self.index, self.count)

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"I/N"`` (``I`` from 1 to ``N``, plain digits), as ``--shard`` takes it."""
        match = re.fullmatch(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*", text)
        if match is None:
            raise DataError(f"--shard {text}: expected I/N, e.g. 2/8")
        number, count = int(match.group(1)), int(match.group(2))
        if count < 1:
            raise DataError(f"--shard {text}: N must be at least 1")
        if not 1 <= number <= count:
            raise DataError(f"--shard {text}: I must be between 1 and N")
        return cls(number - 1, count)


def record_chunks(records: RecordsLike, name: str, shard: Optional[Shard] = None,
                  text_keys: Iterable[str] = ()) -> Tuple[Any, Iterator[RecordTable]]:
    """The records to score (for the hooks) and their chunks, in order: a file is
    streamed (a ``.json`` array is read whole first, then cut into chunks); records in
    memory are one chunk. ``text_keys`` are read as text."""
    opened = open_records(records, name, streaming=True, text_keys=text_keys)
    if isinstance(opened, RecordStream):
        stream = opened.shard(shard.index, shard.count) if shard else opened
        return stream, stream.chunks()
    table = opened.shard(shard.index, shard.count) if shard else opened
    if not isinstance(records, (str, os.PathLike)):
        return table, iter([table])  # one predict call: Keras's cost per call outweighs any overlap
    return table, table.chunks(CHUNK_ROWS)


class Scorer:
    """Scores chunks with a loaded model (``network``, SCORE ``transformer``, ``config``);
    ``total`` is the number of records to score, when known (for progress reports)."""

    def __init__(self, network: Any, transformer: RecordTransformer, config: Dict[str, Any], plugins: Any,
                 context: Any, batch_size: Optional[int] = None, total: Optional[int] = None):
        self.network = network
        self.transformer = transformer
        self.config = config
        self.plugins = plugins
        self.context = context
        self.batch_size = batch_size or config["solver"]["batch_size"]
        self.total = total
        self.count = 0  # records scored so far (for barrage_score_end)
        self._checked = False

    def scored(self, chunks: Iterable[RecordTable]) -> Iterator[Tuple[RecordTable, Columns]]:
        """``(chunk, score columns)`` for every chunk, in order."""
        for table, source in ahead((chunk, self._source(chunk)) for chunk in chunks if len(chunk)):
            yield table, self._post_score(self._postprocess(self._predict(source)))

    def empty_scores(self) -> Optional[Columns]:
        """The score columns of no records, so that an empty output (an empty shard)
        still has its columns: the network's outputs with no row, postprocessed by a
        vectorised transformer. ``None`` when they cannot be known without a record."""
        outputs = getattr(self.network, "output", None)
        if not isinstance(outputs, dict) or not self.transformer.vectorized:
            return None
        shapes = {name: tuple(tensor.shape)[1:] for name, tensor in outputs.items()}
        if any(None in shape for shape in shapes.values()):
            return None
        return self._postprocess({name: np.zeros((0, *shape), dtype=np.float32) for name, shape in shapes.items()})

    def known_columns(self) -> Optional[Columns]:
        """The score columns as they will be written (of no record), known before any
        record is scored; ``None`` when they are not: a plugin's ``barrage_post_score``
        may change them, or the transformer cannot postprocess what it has not seen."""
        if self.plugins.hook.barrage_post_score.get_hookimpls():
            return None
        try:
            return self.empty_scores()
        except Exception:  # a user postprocess that needs a record: known after the first chunk
            return None

    def _source(self, chunk: RecordTable) -> BatchSource:
        return make_batch_source(chunk, mode=RecordMode.SCORE, loader=self.transformer.loader,
                                 transformer=self.transformer, batch_size=self.batch_size,
                                 workers=self.config["dataset"].get("workers"))

    def _predict(self, source: BatchSource) -> Columns:
        import tensorflow as tf

        if not self._checked:
            check_against_network(self.network, source)
            self._checked = True
        try:
            return self.network.predict(source.dataset(), verbose=0)
        except tf.errors.OpError:
            source.raise_pending()
            raise

    def _postprocess(self, outputs: Columns) -> Columns:
        if self.transformer.vectorized:
            return {name: np.asarray(values) for name, values in self.transformer.postprocess(dict(outputs)).items()}
        return columns_of([self.transformer.postprocess(score) for score in unstack_data_record(outputs)])

    def _post_score(self, columns: Columns) -> Columns:
        if not self.plugins.hook.barrage_post_score.get_hookimpls():
            return columns
        count = len(next(iter(columns.values()))) if columns else 0

        def wrong_length(scores: List[Any]) -> Optional[str]:
            return None if len(scores) == count else f"returned {len(scores)} scores for {count} records"

        scores = self.plugins.call_chained("barrage_post_score", "scores", records_of(columns), check=wrong_length,
                                           context=self.context)
        return columns_of(scores)


def ahead(items: Iterable[Any], depth: int = 1) -> Iterator[Any]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead of the consumer;
    an exception there is raised here, in order."""
    slots: "queue.Queue[Tuple[str, Any]]" = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                slots.put(("item", item))
            slots.put(("end", None))
        except BaseException as exc:  # handed to the consumer
            slots.put(("error", exc))

    thread = threading.Thread(target=produce, name="barrage-score-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def concatenate(parts: Sequence[Columns]) -> Columns:
    """Score columns of several chunks as one."""
    if not parts:
        return {}
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def kept_columns(table: RecordTable, keys: List[str]) -> Columns:
    """Columns copied from the input as they were read (``--keep``)."""
    kept = {}
    for key in keys:
        try:
            kept[key] = table.raw_column(key)
        except DataError as exc:
            raise DataError(f"--keep {key}: {exc}") from None
    return kept
