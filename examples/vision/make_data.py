"""Generates the vision example's images: striped squares, horizontal or vertical.

Every image is a small RGB PNG with stripes of a random period, phase and colour plus
pixel noise; the class is the stripes' direction. A left-right flip, a shifted crop or a
brightness change keeps the class, so the example can use all three augmentors.

``python make_data.py [DIRECTORY]`` writes ``DIRECTORY/images/*.png`` and
``DIRECTORY/train.csv`` / ``DIRECTORY/validation.csv`` (columns ``path`` and ``label``;
paths are absolute). ``DIRECTORY`` defaults to ``data/`` next to this script.
"""

import os
import sys
from typing import Dict, List

import numpy as np
import pandas as pd

CLASSES = ["horizontal", "vertical"]


def stripes(rng: np.random.Generator, size: int, vertical: bool) -> np.ndarray:
    """One uint8 image ``[size, size, 3]``."""
    period = int(rng.integers(2, 5))
    phase = int(rng.integers(0, period))
    line = ((np.arange(size) + phase) // max(1, period // 2 + period % 2)) % 2
    mask = np.tile(line[None, :] if vertical else line[:, None], (size, 1) if vertical else (1, size))
    colour = rng.uniform(0.5, 1.0, size=3)
    image = mask[..., None] * colour + rng.normal(0.0, 0.08, size=(size, size, 3))
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)


def make_images(directory: str, count: int, seed: int, size: int = 16, prefix: str = "image") -> List[Dict]:
    """Write ``count`` PNGs into ``directory`` and return their records."""
    import tensorflow as tf

    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    records = []
    for index in range(count):
        label = CLASSES[int(rng.integers(0, 2))]
        path = os.path.abspath(os.path.join(directory, f"{prefix}-{index:04d}.png"))
        tf.io.write_file(path, tf.io.encode_png(stripes(rng, size, label == "vertical")))
        records.append({"path": path, "label": label})
    return records


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "data")
    images = os.path.join(target, "images")
    for name, count, seed in (("train", 300, 1), ("validation", 100, 2)):
        records = make_images(images, count, seed=seed, prefix=name)
        pd.DataFrame(records).to_csv(os.path.join(target, f"{name}.csv"), index=False)
    print(f"wrote 400 images and train.csv / validation.csv to {target}")
