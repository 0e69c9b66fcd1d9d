"""The run context handed to lifecycle hooks."""

from __future__ import annotations

from typing import Any, Dict, Optional

import attrs

from barrage.dataset import RecordMode, RecordTransformer


@attrs.define
class RunContext:
    """One object per train or score run, shared by every lifecycle hook of that run.

    Attributes:
        config: the resolved config (defaults applied, each component with its source).
        artifact_dir: where the run's artifacts live.
        mode: ``RecordMode.TRAIN`` while training, ``RecordMode.SCORE`` while scoring.
        network: the ``keras.Model`` once it is built (``None`` before).
        transformer: the fitted or loaded transformer.
        extras: free space where plugins can leave values for their later hooks.
    """

    config: Dict[str, Any]
    artifact_dir: str
    mode: RecordMode
    network: Optional[Any] = None
    transformer: Optional[RecordTransformer] = None
    extras: Dict[str, Any] = attrs.field(factory=dict)
