"""Everything that serves an exported model, and the only part of the recognizer the Beam jobs
use: the model directory and its export, folding, shipped models, decoding, patterns, precision,
calibration maps and error metrics. No training."""
