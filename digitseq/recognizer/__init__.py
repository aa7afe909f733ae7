"""tf.data reader, Keras CTC recognizer, decoding, metrics, training and export.

Importing the package loads nothing heavy: `recognizer.config` (the options) imports no
TensorFlow or Keras, so the command line builds and checks its flags without them. To load a
digitseq `model.keras` with `keras.saving.load_model(path, safe_mode=True)`, import
`recognizer.layers` first: it registers the custom layers the file names.
"""
