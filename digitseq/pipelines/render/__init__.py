"""The render job: MNIST digits composed into sequences, written as a dataset directory.

`params` (how sequences look, presets), `handwriting` (per-digit and batched variation), `paper`
(scans of rendered strings, normalised as image files), `mnist` (sources),
`planning` (shards and seeds), `drawing` (a shard's sequences drawn and rendered), `config`
(`RenderConfig`), `job` (the Beam job: `RenderDataset`, `render_dataset`).
"""
