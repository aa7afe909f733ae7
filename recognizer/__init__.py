"""tf.data reader, Keras CTC recognizer, decoding, metrics, training and export."""
