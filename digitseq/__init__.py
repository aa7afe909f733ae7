"""digitseq's command-line layer: `digitseq render|...`. The libraries are `pipelines`,
`recognizer` and `schemas`; only this package parses flags."""

__version__ = "0.1.0"
