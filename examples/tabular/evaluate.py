"""Prints the accuracy of a scores file against the labelled records it scored.

Usage: python evaluate.py RECORDS.csv SCORES.csv
"""

import sys

import numpy as np
import pandas as pd


def main(records_path: str, scores_path: str) -> None:
    labels = pd.read_csv(records_path)["species"].to_numpy()
    scores = pd.read_csv(scores_path)
    probabilities = scores[[c for c in scores.columns if c.startswith("species_")]].to_numpy()
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    print(f"validation accuracy of the scored model: {accuracy:.3f} on {len(labels)} records")


if __name__ == "__main__":
    main(*sys.argv[1:3])
