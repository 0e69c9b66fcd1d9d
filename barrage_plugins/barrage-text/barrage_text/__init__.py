"""barrage-text: text vectorising, a Barrage plugin distribution.

Registered by entry point (group ``barrage.transformers``) of this distribution:
:mod:`barrage_text.vectorizer`'s ``TextVectorizer``. Nothing here imports TensorFlow.
"""
