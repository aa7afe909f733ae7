"""The arithmetic exported models run in: float32, or bfloat16 on CPUs that have it.

`bfloat16` is TensorFlow's oneDNN auto mixed precision: a Grappler rewrite, when a function is
first run, that computes convolutions, matrix products and their neighbours in bfloat16 and keeps
the rest in float32 (the softmax, the CTC decoding and the confidences among them). The weights
stay float32 on disk; nothing is re-exported.

Assumptions:
- The setting is TensorFlow's, for the whole process, as its thread settings are: a prediction
  worker makes it before its first call of a model. TensorFlow reads it into a thread's call
  options on that thread's first function call, so every thread that scores calls `use` first
  (`pipelines.predict.model_handler.ModelCache` does).
- bfloat16 pays only on CPUs with bfloat16 instructions (AVX512-BF16 or AMX-BF16, listed in
  `/proc/cpuinfo` on Linux). Elsewhere oneDNN would emulate them, so `use` runs float32 and says
  so once. Where the CPU cannot be read (not Linux), bfloat16 is used as asked.
"""

from __future__ import annotations

import logging
import os

import tensorflow as tf

from digitseq.recognizer.config import BFLOAT16, FLOAT32

logger = logging.getLogger(__name__)

CPUINFO = "/proc/cpuinfo"
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
"""`/proc/cpuinfo` flags of x86 CPUs that compute in bfloat16 natively."""
OPTION = "auto_mixed_precision_onednn_bfloat16"
"""The Grappler option (`tf.config.optimizer.set_experimental_options`) behind `bfloat16`."""

_warned = False


def cpu_has_bfloat16(cpuinfo: str = CPUINFO) -> bool | None:
    """Whether this CPU lists a bfloat16 instruction set in `cpuinfo` (None: not readable)."""
    if not os.path.exists(cpuinfo):
        return None
    with open(cpuinfo, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("flags"):
                return bool(set(line.split(":", 1)[-1].split()) & set(BFLOAT16_CPU_FLAGS))
    return None


def use(precision: str, *, cpuinfo: str = CPUINFO) -> str:
    """Makes TensorFlow run functions first called from now on, on this thread and any thread
    that has not called one yet, in `precision`; returns the precision in effect (float32 when
    bfloat16 is asked on a CPU without it)."""
    global _warned
    effective = precision
    if precision == BFLOAT16 and cpu_has_bfloat16(cpuinfo) is False:
        effective = FLOAT32
        if not _warned:
            _warned = True
            logger.warning(
                "precision bfloat16: this CPU has none of %s (%s), so models run in float32",
                ", ".join(BFLOAT16_CPU_FLAGS),
                cpuinfo,
            )
    tf.config.optimizer.set_experimental_options({OPTION: effective == BFLOAT16})
    return effective
