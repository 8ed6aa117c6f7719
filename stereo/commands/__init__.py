"""Thin command-line entry points: each builds a config, calls one library function, reports."""
