"""Train a Keras model of your own on a digitseq dataset with `digitseq.data.make_dataset` and
`model.fit`.

    digitseq render --out mydata --mnist sample --train 512 --validation 64 --test 64
    python examples/keras_training.py --data mydata [--epochs 2] [--steps 20]

The batches are `(features, labels)`: `features["frames"]` uint8 `[batch, width, 28]` (a
string's pixel columns, zero-padded to its width bucket) and `labels["label"]` int32 `[batch,
longest]` (digits, padded with -1). Keras' CTC loss takes class 0 as its blank, so the digits
become classes 1..10 and the padding 0.
"""

import argparse

import keras
import tensorflow as tf

import digitseq.data

CLASSES = 11  # blank + ten digits


def for_keras(features, labels):
    return features["frames"], labels["label"] + 1  # padding -1 -> 0, the blank


def build() -> keras.Model:
    frames = keras.Input(shape=(None, 28), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(keras.ops.cast(frames, "float32"))
    for filters in (64, 64):
        x = keras.layers.Conv1D(filters, 5, padding="same", activation="relu")(x)
    x = keras.layers.Bidirectional(keras.layers.GRU(64, return_sequences=True))(x)
    return keras.Model(frames, keras.layers.Dense(CLASSES)(x))


def greedy(logits) -> list[str]:
    best = tf.argmax(logits, axis=-1).numpy()
    strings = []
    for row in best:
        kept = [c for i, c in enumerate(row) if c and (i == 0 or c != row[i - 1])]
        strings.append("".join(str(c - 1) for c in kept))
    return strings


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset directory (digitseq render)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="steps per epoch (one pass)")
    args = parser.parse_args(argv)
    train = digitseq.data.make_dataset(args.data, "train", 32, training=True, seed=0)
    steps = args.steps or sum(digitseq.data.epoch_batches([args.data], [1.0], 32))
    validation = digitseq.data.make_dataset(args.data, "validation", 64)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.CTC())
    model.fit(
        train.map(for_keras).repeat(),
        validation_data=validation.map(for_keras),
        epochs=args.epochs,
        steps_per_epoch=steps,
        verbose=2,
    )
    frames, labels = next(iter(validation.map(for_keras)))
    for truth, read in list(zip(labels.numpy(), greedy(model(frames))))[:5]:
        print("label", "".join(str(d - 1) for d in truth if d), "read", read)


if __name__ == "__main__":
    main()
