"""An example third-party Barrage plugin.

What it adds, and how:

- ``ExampleValuesLoader`` (:mod:`.loaders`), a loader declared in the ``barrage.loaders``
  entry-point group;
- ``example_jitter`` (:mod:`.augmentors`), an augmentor added at run time through the
  ``barrage_register_components`` hook;
- lifecycle hooks and the ``example-hello`` CLI command (:mod:`.hooks`), loaded from the
  ``barrage`` entry-point group under the name ``example``.

No module here imports TensorFlow when it is imported.
"""

DISTRIBUTION = "barrage-example-plugin"
