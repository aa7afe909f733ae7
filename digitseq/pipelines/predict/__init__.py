"""The batch and streaming prediction jobs: TFRecords or image files scored by an exported model
with Beam's RunInference.

`config` (`PredictConfig` and the names its options choose from), `records` (reading and parsing
TFRecords, and the scoring shared by both inputs), `image_files` (image files, normalised as
ingest does), `model_handler` (the RunInference handler), `model_versions` (model updates in a
streaming run), `metrics` (`metrics.json`), `writing` (the claimed output directory, JSON Lines,
per-window files), `job` (the batch job: `run_prediction`, `run.json`), `streaming` (the
streaming job: `run_streaming`).
"""
