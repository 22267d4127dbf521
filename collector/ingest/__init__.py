"""Ingest of pushed samples (CONTRACT §3.1): validation, worker processes."""
