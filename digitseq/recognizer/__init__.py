"""The recognizer: `config` (every option, plain Python), `data` (the tf.data reader), `model`
(layers, architectures, CTC), `train` (the trainer and everything training needs) and `serving`
(exported models: export, loading and checking, decoding, calibration, metrics).

Importing the package loads nothing heavy: `recognizer.config` imports no TensorFlow or Keras, so
the command line builds and checks its flags without them. To load a digitseq `model.keras` with
`keras.saving.load_model(path, safe_mode=True)`, import `digitseq.recognizer.model.layers` first:
it registers the custom layers the file names (`serving.exported_model` does this for you).
"""
