"""Apache Beam jobs, one package each, over the shared modules beside them.

    render/    MNIST digit sequences -> a dataset directory (`digitseq render`)
    ingest/    labeled image files -> the same dataset directory (`digitseq ingest`)
    predict/   TFRecords or image files + an exported model -> predictions (`digitseq predict`)

Shared: `dataset_writer` (claiming, shard writing and sizing, metadata, finishing a dataset
directory), `statistics` (standardization statistics), `images` (the one image normalisation of
ingest and predict), `labels` (the labels file). Job packages import each other only through
these shared modules.
"""
