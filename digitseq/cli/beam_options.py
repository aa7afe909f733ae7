"""Beam `PipelineOptions` from the flags a command did not recognise."""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

LOCAL_RUNNER = "FnApiRunner"
"""Runs batch pipelines in-process (what DirectRunner falls back to after trying Prism, whose
binary it would download: not possible offline). `--direct_num_workers` and
`--direct_running_mode` apply to it."""


def pipeline_options(argv: Sequence[str]) -> PipelineOptions:
    """Options from Beam flags; without `--runner`, the local in-process runner."""
    options = PipelineOptions(list(argv))
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = LOCAL_RUNNER
    return options
