"""Decoding a model on one split of a dataset: error rates for validation and benchmarks, and
the raw decodes calibration fits on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from digitseq.recognizer.data import reader as data
from digitseq.recognizer.serving import decoding, metrics
from digitseq.schemas import batch


class SplitDecoder:
    """A model's decoded strings on one split, batch by batch, by one or more decoding methods;
    the dataset and the decoding graph are built once, so iterating again (every epoch) reuses
    them. `verified`: the split was read and checked already in this process.

    Iterating yields `(features, truth, decoded)` per batch: the batch's features, its label
    strings, and `{method: (strings, confidence [B])}`.
    """

    def __init__(
        self,
        model: keras.Model,
        data_dir: str,
        split: str,
        *,
        methods: Sequence[str] = (decoding.GREEDY,),
        beam_width: int = 8,
        batch_size: int = 256,
        verified: bool = False,
    ):
        self.methods = tuple(methods)
        self._dataset = data.make_dataset(data_dir, split, batch_size, verified=verified)

        @tf.function(input_signature=[self._dataset.element_spec[0]])
        def predict(features):
            out = model(features, training=False)
            return tuple(
                decoding.decode(
                    out[batch.LOGITS], out[batch.LENGTHS], method=method, beam_width=beam_width
                )
                for method in self.methods
            )

        self._predict = predict

    def __iter__(self) -> Iterator[tuple[dict, list[str], dict[str, tuple[list[str], np.ndarray]]]]:
        for features, labels in self._dataset:
            truth = decoding.to_strings(labels[batch.LABEL], labels[batch.LABEL_LENGTH])
            decoded = {
                method: (decoding.to_strings(digits, lengths), confidence.numpy())
                for method, (digits, lengths, confidence) in zip(
                    self.methods, self._predict(features)
                )
            }
            yield features, truth, decoded


class Evaluator:
    """Error rates of a model on one split; the dataset and the decoding graph are built once."""

    def __init__(
        self,
        model: keras.Model,
        data_dir: str,
        split: str,
        *,
        batch_size: int = 256,
        method: str = decoding.GREEDY,
        beam_width: int = 8,
    ):
        self._method = method
        self._decoder = SplitDecoder(
            model, data_dir, split, methods=(method,), beam_width=beam_width, batch_size=batch_size
        )

    def __call__(self, samples: int = 0) -> tuple[dict, list]:
        """`ErrorCounts.summary()`, and the first `samples` (frames, label, prediction)."""
        counts, kept = metrics.ErrorCounts(), []
        for features, truth, decoded in self._decoder:
            for i, (reference, hypothesis) in enumerate(zip(truth, decoded[self._method][0])):
                counts.add(reference, hypothesis)
                if len(kept) < samples:
                    width = int(features[batch.WIDTH][i])
                    kept.append((features[batch.FRAMES][i, :width].numpy(), reference, hypothesis))
        return counts.summary(), kept
