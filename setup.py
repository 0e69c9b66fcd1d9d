"""The one part of the build that ``pyproject.toml`` cannot declare with setuptools 64:
the optional C extension ``barrage.records._speedups`` (see its source). ``optional``:
without a C compiler the build goes on and Barrage uses its pure-Python code instead."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("barrage.records._speedups", ["barrage/records/_speedups.c"], optional=True)])
