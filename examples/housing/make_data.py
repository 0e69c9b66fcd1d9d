"""Writes the housing example's data: house prices in currency units, five districts.

``price`` is linear in the numeric features (plus a district premium and noise) and
runs into the hundreds of thousands: a network cannot fit it in a few epochs without the
``Standardizer``, and with it the scores come back in the same currency units. ``band``
(``budget``/``mid``/``premium``) is the price tercile, a class label the
``CategoricalEncoder`` example predicts from the district.

Run ``python make_data.py`` to (re)write ``train.csv`` and ``validation.csv`` here.
"""

import os

import numpy as np
import pandas as pd

DISTRICTS = {"harbour": 0.0, "old town": 40000.0, "riverside": 80000.0, "hills": 120000.0, "park": 160000.0}
BASE_PRICE, PER_M2, PER_YEAR, NOISE = 60000.0, 2500.0, -900.0, 8000.0
BAND_EDGES = (300000.0, 400000.0)


def price_of(area_m2: np.ndarray, age_years: np.ndarray, district: np.ndarray) -> np.ndarray:
    """The noise-free price the data is generated from (used by the tests as truth)."""
    premium = np.array([DISTRICTS[d] for d in district])
    return BASE_PRICE + PER_M2 * area_m2 + PER_YEAR * age_years + premium


def make(count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.uniform(40.0, 160.0, size=count).round(1)
    rooms = np.clip(np.round(area / 30.0 + rng.normal(0.0, 0.5, size=count)), 1, None).astype(int)
    age = rng.integers(0, 80, size=count)
    district = rng.choice(list(DISTRICTS), size=count)
    price = (price_of(area, age, district) + rng.normal(0.0, NOISE, size=count)).round(-2)
    band = np.where(price < BAND_EDGES[0], "budget", np.where(price < BAND_EDGES[1], "mid", "premium"))
    return pd.DataFrame(
        {"area_m2": area, "rooms": rooms, "age_years": age, "district": district, "price": price, "band": band}
    )


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    make(400, seed=1).to_csv(os.path.join(here, "train.csv"), index=False)
    make(150, seed=2).to_csv(os.path.join(here, "validation.csv"), index=False)
