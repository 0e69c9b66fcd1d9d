"""First-party Barrage plugins: tabular, text and vision components.

Each module is an ordinary plugin: its components are declared as entry points in
Barrage's ``pyproject.toml`` (``barrage.transformers``, ``barrage.loaders``,
``barrage.augmentors``) exactly as a third-party distribution would declare its own, and
the core never imports this package. Modules import TensorFlow only inside the functions
that need it, so resolving a component stays cheap.

* :mod:`barrage_plugins.tabular`: ``Standardizer``, ``CategoricalEncoder``.
* :mod:`barrage_plugins.text`: ``TextVectorizer``.
* :mod:`barrage_plugins.vision`: ``ImageLoader`` and the ``random_flip``,
  ``random_crop`` and ``random_brightness`` augmentors.
"""
