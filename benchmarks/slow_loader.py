"""A per-record loader that costs 1 ms a record, for the parallel-loading benchmark.

It stands for a loader that reads an image or a file per record: the work is outside
the interpreter (``time.sleep`` releases the GIL, as file reads and image decoders do),
so several workers can overlap it.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Sequence

import numpy as np

from barrage.dataset import DataRecord, RecordLoader, RecordMode


class SleepyLoader(RecordLoader):
    """``KeySelector``-like loader over ``keys`` into input ``features``, 1 ms a record.

    ``vectorized`` stays ``False``: the engine must call :meth:`load` once per record.
    """

    def __init__(self, mode: RecordMode, keys: Sequence[str], label: str = "label", delay: float = 0.001):
        super().__init__(mode)
        self.keys = list(keys)
        self.label = label
        self.delay = float(delay)

    def load(self, record: Dict[str, Any]) -> DataRecord:
        """Sleep ``delay`` seconds, then select the features (and the label unless scoring)."""
        time.sleep(self.delay)
        x = {"features": np.asarray([record[key] for key in self.keys], dtype=np.float32)}
        if self.mode is RecordMode.SCORE:
            return (x,)
        return (x, {"label": record[self.label]})
