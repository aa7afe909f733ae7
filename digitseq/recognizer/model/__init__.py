"""The recognizers: custom layers (importing `layers` registers them with Keras), the
architectures, the convolutional recognizer and the CTC loss."""
