"""The tf.data side: a split's layout and record streams, batch parsing and checks, verification,
training-time augmentation, and the dataset builders (`reader.make_dataset`)."""
