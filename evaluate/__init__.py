"""Scoring and measuring: benchmarks, metrics, speed and memory."""
