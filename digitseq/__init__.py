"""digitseq: handwritten digit-string recognition with Apache Beam jobs, a tf.data reader and a
Keras 3 CTC recognizer.

Packages, bottom to top: `core` (errors, options, storage, claims), `schemas` (contracts),
`recognizer` (the tf.data reader, models, training, serving) and `pipelines` (the Beam jobs),
then the library API (`Reader` here, `digitseq.beam` for Beam pipelines, `digitseq.data` for
tf.data) and `cli` (the `digitseq` command, the only place flags are parsed).
"""

from importlib import metadata

__version__ = metadata.version("digitseq")
__all__ = ["ReadConfig", "Reader", "Reading", "__version__"]


def __getattr__(name: str):
    """`Reader`, `ReadConfig` and `Reading` load on first use, so that `import digitseq` (and the
    command line) stays light."""
    if name in ("Reader", "ReadConfig", "Reading"):
        from digitseq import reader

        return getattr(reader, name)
    raise AttributeError(f"module 'digitseq' has no attribute {name!r}")
