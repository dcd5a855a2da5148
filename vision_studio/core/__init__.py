"""The Qt-free core: store, image decoding, formats, models, training, evaluation.

Nothing under ``vision_studio.core`` imports Qt (a test enforces it); torch is
imported lazily, only by the modules that need it.
"""
