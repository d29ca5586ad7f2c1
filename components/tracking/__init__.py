"""Tracking: the MLflow store's layout, lineage digests, the registry connection and file locks.

Used by training, evaluation and the registry alike (docs/architecture.md).
"""
