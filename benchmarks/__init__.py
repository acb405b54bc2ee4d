"""Benchmarks: ingestion throughput, query latency, scale to 100k chunks (see run.py)."""
