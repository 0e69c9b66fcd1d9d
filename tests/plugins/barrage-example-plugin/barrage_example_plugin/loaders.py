"""A loader for records that carry their features as one list or one delimited string."""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from barrage.dataset import DataRecord, Record, RecordLoader, RecordMode


def parse_values(value: Union[str, Sequence[Any]], separator: str) -> np.ndarray:
    """``"1.5;-2;0.25"`` or ``[1.5, -2, 0.25]`` -> a float32 vector."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(separator)]
        return np.asarray([float(part) for part in parts if part], dtype=np.float32)
    return np.asarray(value, dtype=np.float32).ravel()


class ValuesLoader(RecordLoader):
    """Reads a fixed-length feature vector from one record key.

    ``record[key]`` is a list of numbers or a string of numbers joined by ``separator``;
    it becomes the network input ``input_name``. In TRAIN and VALIDATION the value of
    ``record[label_key]`` becomes the output ``output_name``.
    """

    def __init__(
        self,
        mode: RecordMode,
        size: int,
        key: str = "values",
        separator: str = ";",
        input_name: str = "values",
        label_key: str = "label",
        output_name: str = "label",
    ):
        super().__init__(mode)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        self.size = size
        self.key = key
        self.separator = separator
        self.input_name = input_name
        self.label_key = label_key
        self.output_name = output_name

    def load(self, record: Record) -> DataRecord:
        values = parse_values(record[self.key], self.separator)
        if values.shape != (self.size,):
            raise ValueError(f"'{self.key}' holds {values.size} values, expected {self.size}")
        x = {self.input_name: values}
        if self.mode is RecordMode.SCORE:
            return (x,)
        return (x, {self.output_name: record[self.label_key]})
