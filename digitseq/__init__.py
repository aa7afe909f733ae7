"""digitseq's command-line layer: `digitseq render|...`. The libraries are `pipelines`,
`recognizer` and `schemas`; only this package parses flags."""

from importlib import metadata

__version__ = metadata.version("digitseq")
