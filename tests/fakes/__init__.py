"""Fakes of the outside world for tests and benchmarks (platform APIs on loopback)."""
