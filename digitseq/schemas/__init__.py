"""Contracts between digitseq's parts: the sequence record (v1), the dataset directory, batch
keys, the exported model directory and the prediction outputs.

This package is the only place a feature name, batch key or file name is spelled; writers and
readers import it.
"""
