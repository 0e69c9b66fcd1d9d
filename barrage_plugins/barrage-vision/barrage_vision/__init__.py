"""barrage-vision: image loading and augmenting, a Barrage plugin distribution.

Registered by entry points of this distribution: :mod:`barrage_vision.images`'s
``ImageLoader`` (group ``barrage.loaders``) and the ``random_flip``, ``random_crop`` and
``random_brightness`` augmentors (group ``barrage.augmentors``). Images are decoded with
Pillow, this distribution's own dependency; nothing here imports TensorFlow.
"""
