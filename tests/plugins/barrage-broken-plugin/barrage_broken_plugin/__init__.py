"""A Barrage plugin that is broken on purpose: its modules raise when imported."""
