"""`digitseq train`: flags -> `recognizer.train.train`, then a summary."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a CTC recognizer on a rendered dataset",
        description="Train a Keras CTC recognizer under a tf.distribute strategy; a run killed "
        "and restarted with the same command resumes from its last finished epoch.")
    parser.add_argument("--data", required=True, help="dataset directory (digitseq render)")
    parser.add_argument("--model-dir", required=True, help="where checkpoints, logs and the "
                        "exported model go")
    parser.add_argument("--arch", default="crnn", help="crnn (default), brnn or rnn")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch size")
    parser.add_argument("--strategy", default="auto",
                        help="auto, one_device, mirrored or multi_worker (reads TF_CONFIG)")
    parser.add_argument("--optimizer", default="adam", help="adam, rmsprop or sgd")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--early-stopping", type=int, default=0, metavar="EPOCHS",
                        help="stop after this many epochs without better validation CER (0: off)")
    parser.add_argument("--constant-frames", action="store_true",
                        help="smaller batches for wider buckets")
    parser.add_argument("--schedule", default="constant", choices=("constant", "cosine"))
    parser.add_argument("--warmup-epochs", type=float, default=0.0)
    parser.add_argument("--augment", action="store_true")
    model = parser.add_argument_group("architecture")
    model.add_argument("--cell", default="lstm", help="lstm, gru or simple (rnn only)")
    model.add_argument("--units", type=int, default=128)
    model.add_argument("--layers", type=int, default=2)
    model.add_argument("--bidirectional", action="store_true", help="rnn only")
    model.add_argument("--dropout", type=float, default=0.25)
    model.add_argument("--noise", type=float, default=0.1)
    model.add_argument("--conv-blocks", type=int, default=2, help="crnn: each halves the width")
    model.add_argument("--conv-filters", type=int, default=32)
    model.add_argument("--conv-layers", type=int, default=1)
    model.add_argument("--batch-norm", action="store_true")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, _: list[str]) -> int:
    from recognizer import models, train

    config = train.TrainConfig(
        data_dir=args.data, model_dir=args.model_dir,
        model=models.ModelConfig(arch=args.arch, cell=args.cell, units=args.units,
                                 layers=args.layers, bidirectional=args.bidirectional,
                                 dropout=args.dropout, noise=args.noise,
                                 conv_blocks=args.conv_blocks, conv_filters=args.conv_filters,
                                 conv_layers=args.conv_layers, batch_norm=args.batch_norm),
        epochs=args.epochs, batch_size=args.batch_size, strategy=args.strategy,
        optimizer=args.optimizer, learning_rate=args.learning_rate, seed=args.seed,
        early_stopping=args.early_stopping, constant_frames=args.constant_frames,
        schedule=args.schedule, warmup_epochs=args.warmup_epochs, augment=args.augment)
    result = train.train(config)
    last = result["history"][-1] if result["history"] else {}
    print(json.dumps({"model_dir": args.model_dir, "epochs": len(result["history"]),
                      "best_val_cer": result["best_val_cer"],
                      "last": last, "train_seconds": round(result["train_seconds"], 1)}))
    return 0
