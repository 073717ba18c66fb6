"""Benchmarks (`make bench`): AWS calls per message and handler time, printed as tables."""
