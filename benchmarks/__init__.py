"""Benchmarks of Barrage against hand-written Keras (run ``benchmarks/train_score.py``).

A package so that the benchmark's per-record loader can be named by Python path
(``benchmarks.slow_loader.SleepyLoader``) from a config, as a user's own loader would be.
"""
