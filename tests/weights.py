"""Models built in tests: standardization constants, and trained-looking weights."""

from __future__ import annotations

import numpy as np

STATS = {"mean": [33.0] * 28, "std": [78.0] * 28}


def randomize_biases_and_statistics(model, seed=0):
    """Trained biases, shifts and batch statistics are not 0 and 1: padding must stay invisible
    all the same."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if weight.path.endswith(("bias", "moving_mean", "beta")):
            weight.assign(rng.uniform(-0.3, 0.3, weight.shape).astype(np.float32))
        elif weight.path.endswith(("moving_variance", "gamma")):
            weight.assign(rng.uniform(0.5, 2.0, weight.shape).astype(np.float32))
