"""Contracts between digitseq's parts: the sequence record (v1) and the output schemas.

This package is the only place a feature name is spelled; writers and readers import it.
"""
