"""The batch prediction job: TFRecords or image files scored by an exported model with Beam's
RunInference.

`records` (reading and parsing TFRecords, and the scoring shared by both inputs), `image_files`
(image files, normalised as ingest does), `model_handler` (the RunInference handler), `metrics`
(`metrics.json` in the job), `writing` (the claimed output directory, JSON Lines), `job`
(`PredictConfig`, `run_prediction`, `run.json`).
"""
