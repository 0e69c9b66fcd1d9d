"""barrage-tabular: transformers for tabular data, a Barrage plugin distribution.

Registered by entry points (group ``barrage.transformers``) of this distribution:

* :mod:`barrage_tabular.transformers`: ``Standardizer``, ``CategoricalEncoder``;
* :mod:`barrage_tabular.composed`: ``ComposedTransformer``, several transformers as one.

Nothing here imports TensorFlow.
"""
