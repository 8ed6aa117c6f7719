"""Benchmarks and reproducible recipes."""
