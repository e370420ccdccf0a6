"""Stands in for a heavy library (think pandas): must not be imported by `tierctl --help`."""

NAME = "acme-heavy"
