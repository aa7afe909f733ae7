"""The ingest job: labeled image files normalised into the render job's dataset directory.

`config` (`IngestConfig`), `steps` (join images with labels, normalise, bucket by width, write
shards), `job` (the Beam job: `IngestImages`, `ingest_dataset`).
"""
