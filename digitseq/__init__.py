"""digitseq: handwritten digit-string recognition with Apache Beam jobs, a tf.data reader and a
Keras 3 CTC recognizer.

Packages, bottom to top: `core` (errors, options, storage, claims), `schemas` (contracts),
`recognizer` (the tf.data reader, models, training, serving) and `pipelines` (the Beam jobs),
then `cli` (the `digitseq` command, the only place flags are parsed).
"""

from importlib import metadata

__version__ = metadata.version("digitseq")
