"""``BestCheckpoint``: Keras's ``ModelCheckpoint`` made crash-safe and recorded.

Keras decides when the monitored quantity improved and writes the weights; here they
go to a temporary file first, and only a complete file replaces the previous best,
through the manifest (:meth:`barrage.manifest.Manifest.replace`). A ``SIGKILL`` at any
instant leaves a best checkpoint that loads and verifies.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

import keras

from barrage import artifacts
from barrage.manifest import Manifest


class BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """Best-only, weights-only checkpoint of ``layout.best_weights`` (see the module
    docstring); other keyword arguments are ``ModelCheckpoint``'s."""

    def __init__(self, layout: Any, **kwargs: Any):
        self.final_path = layout.best_weights
        self.relative = os.path.relpath(self.final_path, layout.root).replace(os.sep, "/")
        self.manifest = Manifest(layout.root)
        temporary = artifacts.temporary_path(self.final_path)  # a leftover of a kill is known as one
        super().__init__(filepath=temporary, save_best_only=True, save_weights_only=True, **kwargs)

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        try:
            super().on_epoch_end(epoch, logs)
        except OSError as exc:
            raise artifacts.write_error(self.final_path, exc) from None
        if os.path.exists(self.filepath):  # Keras saved: the monitored quantity improved
            self.manifest.replace(self.filepath, self.relative)
