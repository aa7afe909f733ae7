"""The ingest job: labeled image files normalised into the render job's dataset directory.

`steps` (join images with labels, normalise, bucket by width, write shards), `job` (the Beam
job: `IngestConfig`, `ingest_dataset`).
"""
