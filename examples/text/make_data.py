"""Writes the text example's corpus: short generated movie reviews labelled by sentiment.

Each review mixes neutral filler with words from one side's lexicon (and, now and then,
one word from the other side, so a single word never decides the label). Capitals and
punctuation are sprinkled in to exercise the ``TextVectorizer``'s tokenising.

Run ``python make_data.py`` to (re)write ``train.csv`` and ``validation.csv`` here.
"""

import os

import numpy as np
import pandas as pd

POSITIVE = ["great", "excellent", "loved", "wonderful", "enjoyed", "superb", "charming", "brilliant", "moving", "fun"]
NEGATIVE = ["terrible", "awful", "hated", "boring", "dull", "waste", "poor", "clumsy", "tedious", "disappointing"]
FILLER = ["the", "movie", "film", "plot", "actors", "was", "and", "really", "story", "this", "a", "with",
          "ending", "music", "cast", "director", "scenes", "it", "very", "quite"]


def review(rng: np.random.Generator, positive: bool) -> str:
    own, other = (POSITIVE, NEGATIVE) if positive else (NEGATIVE, POSITIVE)
    words = list(rng.choice(FILLER, size=rng.integers(5, 12)))
    words += list(rng.choice(own, size=rng.integers(1, 4)))
    if rng.random() < 0.3:
        words.append(str(rng.choice(other)))
    rng.shuffle(words)
    words[0] = words[0].capitalize()
    return " ".join(words) + str(rng.choice([".", "!", "!!", "..."]))


def make(count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=count)
    return pd.DataFrame({"review": [review(rng, bool(label)) for label in labels], "sentiment": labels})


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    make(400, seed=1).to_csv(os.path.join(here, "train.csv"), index=False)
    make(150, seed=2).to_csv(os.path.join(here, "validation.csv"), index=False)
