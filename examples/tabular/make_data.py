"""Writes the shipped tabular data set: three kinds of synthetic flowers, four measurements.

Run once to regenerate ``train.csv`` and ``validation.csv`` (the files are committed).
"""

import numpy as np
import pandas as pd

CENTRES = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
SPREAD = np.array([0.35, 0.35, 0.45, 0.25])


def make(count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    species = rng.integers(0, 3, size=count)
    features = CENTRES[species] + rng.normal(size=(count, 4)) * SPREAD
    frame = pd.DataFrame(features.round(2), columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    frame["species"] = species
    return frame


if __name__ == "__main__":
    make(600, seed=1).to_csv("train.csv", index=False)
    make(200, seed=2).to_csv("validation.csv", index=False)
