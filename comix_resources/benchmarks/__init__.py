"""Benchmarks of the per-page engines against the demo library's truth (plain Python).

``run_accuracy_benchmark`` (panels, reading order, text to panel, non-comic filter, aligned
pages), ``run_kumiko_benchmark`` (the contour detector on Kumiko's annotated pages) and
``run_speed_benchmark`` (pages per second) each return a dict; ``format_report`` prints any of
them. ``python -m comix_resources.benchmarks accuracy|kumiko|speed`` runs one from a shell.
"""

from comix_resources.benchmarks.accuracy import (
    TARGETS,
    run_accuracy_benchmark,
    run_kumiko_benchmark,
)
from comix_resources.benchmarks.report import format_report
from comix_resources.benchmarks.speed import run_speed_benchmark

__all__ = [
    "TARGETS",
    "format_report",
    "run_accuracy_benchmark",
    "run_kumiko_benchmark",
    "run_speed_benchmark",
]
