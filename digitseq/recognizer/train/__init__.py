"""Training: the trainer and its steps, strategies, pre-training checks, progress reporting,
fine-tuning, distillation, recipes, evaluation and calibrating an exported model on a split."""
