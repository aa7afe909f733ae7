"""tf.data reader, Keras CTC recognizer, decoding, metrics, training and export.

Importing the package registers the custom layers, so `keras.saving.load_model(path,
safe_mode=True)` can load a digitseq `model.keras` after `import recognizer`.
"""

from recognizer import layers as _layers  # noqa: F401
