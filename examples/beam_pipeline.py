"""A Beam pipeline of your own: read a folder of images, recognize the digits with RunInference,
write CSV rows.

    python examples/beam_pipeline.py --images 'scans/*.png' --out digits.csv [--model general]
        [Beam flags: --runner, --direct_num_workers, Dataflow flags, ...]
"""

import argparse

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from digitseq.beam import DigitStringModelHandler


def to_csv(element) -> str:
    path, result = element
    reading = result.inference
    if reading.error is not None:
        return f"{path},,,{reading.error!r}"
    return f"{path},{reading.digits},{reading.confidence:.4f},"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, help="file pattern of the images")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--model", default="general", help="model directory or shipped name")
    args, beam_args = parser.parse_known_args(argv)
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
        _ = (
            pipeline
            | "Match" >> fileio.MatchFiles(args.images)
            | "Open" >> fileio.ReadMatches()
            | "Bytes" >> beam.Map(lambda f: (f.metadata.path, f.read()))
            | "Recognize" >> RunInference(KeyedModelHandler(DigitStringModelHandler(args.model)))
            | "Csv" >> beam.Map(to_csv)
            | "Write"
            >> beam.io.WriteToText(
                args.out, header="file,digits,confidence,error", shard_name_template=""
            )
        )


if __name__ == "__main__":
    main()
