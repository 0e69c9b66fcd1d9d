"""An augmentor, registered through the ``barrage_register_components`` hook."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from barrage.dataset import DataRecord


def jitter(
    data_record: DataRecord,
    rng: np.random.Generator,
    std: float = 0.05,
    inputs: Optional[Sequence[str]] = None,
) -> DataRecord:
    """Add Gaussian noise of standard deviation ``std`` to the named inputs (all by default).

    ``rng`` is the seeded generator the engine hands to every augmentor that asks for one,
    so a run with a fixed ``dataset.seed`` augments the same way every time.
    """
    if std < 0:
        raise ValueError(f"std must be at least 0, got {std}")
    x = dict(data_record[0])
    for name in inputs if inputs is not None else list(x):
        values = np.asarray(x[name])
        dtype = values.dtype if values.dtype.kind == "f" else np.float32
        x[name] = (values + rng.normal(0.0, std, size=values.shape)).astype(dtype)
    return (x,) + tuple(data_record[1:])
