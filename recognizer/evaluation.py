"""Error rates of a model on one split of a rendered dataset, for validation and benchmarks."""

from __future__ import annotations

import keras
import tensorflow as tf

from recognizer import data, decoding, metrics
from schemas import batch


class Evaluator:
    """Error rates of a model on one split; the dataset and the decoding graph are built once."""

    def __init__(self, model: keras.Model, data_dir: str, split: str, *, batch_size: int = 256,
                 method: str = decoding.GREEDY, beam_width: int = 8):
        self._dataset = data.make_dataset(data_dir, split, batch_size)

        @tf.function(input_signature=[self._dataset.element_spec[0]])
        def predict(features):
            out = model(features, training=False)
            return decoding.decode(out[batch.LOGITS], out[batch.LENGTHS], method=method,
                                   beam_width=beam_width)

        self._predict = predict

    def __call__(self, samples: int = 0) -> tuple[dict, list]:
        """`ErrorCounts.summary()`, and the first `samples` (frames, label, prediction)."""
        counts, kept = metrics.ErrorCounts(), []
        for features, labels in self._dataset:
            digits, lengths, _ = self._predict(features)
            truth = decoding.to_strings(labels[batch.LABEL], labels[batch.LABEL_LENGTH])
            for i, (reference, hypothesis) in enumerate(
                    zip(truth, decoding.to_strings(digits, lengths))):
                counts.add(reference, hypothesis)
                if len(kept) < samples:
                    width = int(features[batch.WIDTH][i])
                    kept.append((features[batch.FRAMES][i, :width].numpy(), reference,
                                 hypothesis))
        return counts.summary(), kept
