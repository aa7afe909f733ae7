"""Mechanisms every layer shares: errors, config option metadata, storage (file systems, the
atomic write, byte and JSON reads) and claimed output directories. Imports nothing of ours."""
