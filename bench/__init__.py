"""Benchmarks of fpr-agents; each prints its ratios against the baseline it names.

Run one with ``python -m bench.<name>`` from the repository root.
"""
