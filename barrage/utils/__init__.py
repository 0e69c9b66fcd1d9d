"""Helpers kept for code written for the original Barrage (``barrage.utils.io_utils``)."""
