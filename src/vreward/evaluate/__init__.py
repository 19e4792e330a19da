"""Offline scoring of saved completions: rewards for every record and each task's benchmark metrics.

``vreward score`` on the command line; :func:`score` with a :class:`ScoreConfig` in Python.
"""

from vreward.evaluate.base import Figure, Record, RecordError, Sample, TaskMetrics
from vreward.evaluate.io import InputError, read_records
from vreward.evaluate.runner import ScoreConfig, score, score_with_table, summary_table

__all__ = ["Figure", "InputError", "Record", "RecordError", "Sample", "ScoreConfig", "TaskMetrics", "read_records",
           "score", "score_with_table", "summary_table"]
