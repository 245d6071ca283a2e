"""Benchmarks (not tests): per-stage speed and memory against the I/O floor.

Run ``python -m benchmarks --help`` from the repository root; see :mod:`benchmarks.runner`.
"""
