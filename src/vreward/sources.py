"""Per-source monitoring (V-Triune, arXiv 2505.18129, "source-level metric monitoring"): when a batch mixes data
sources, each reward's mean and zero reasons per source, so that a collapsing dataset shows by name.

With a ``data_source`` column (the column name is the ``source_column`` option of every reward and of
:class:`~vreward.composite.CompositeReward`), a reward called with TRL's ``log_metric`` also logs, per source:
``<reward>/<source>/mean``, ``<reward>/<source>/zero_reasons_frac`` and ``<reward>/<source>/zero/<reason>`` (the
share of the source's rows scored 0 for that reason).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from vreward.reasons import REASON_NAMES

MAX_SOURCES = 64  # distinct sources logged per batch (the most frequent), so a bad column cannot flood the logs


def source_names(columns: Mapping[str, Any], column: str | None, n: int) -> list[str] | None:
    """Each row's source name from ``columns[column]``, or None when there is no such column of ``n`` rows."""
    if column is None:
        return None
    values = columns.get(column)
    if values is None or isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) != n:
        return None
    return ["unknown" if v is None else str(v).replace("/", "_") for v in values]


def log_by_source(log_metric: Callable[[str, float], Any], name: str, scores: np.ndarray,
                  codes: np.ndarray | None, sources: list[str]) -> None:
    """Log the mean score (and zero-reason shares, when ``codes`` is given) of every source of a batch."""
    keys, inverse, counts = np.unique(np.asarray(sources, dtype=object), return_inverse=True, return_counts=True)
    for k in np.argsort(-counts, kind="stable")[:MAX_SOURCES].tolist():
        rows = inverse == k
        prefix = f"{name}/{keys[k]}"
        log_metric(f"{prefix}/mean", float(scores[rows].mean()))
        if codes is None:
            continue
        row_codes = codes[rows]
        log_metric(f"{prefix}/zero_reasons_frac", float((row_codes != 0).mean()))
        for code, count in zip(*np.unique(row_codes[row_codes != 0], return_counts=True)):
            log_metric(f"{prefix}/zero/{REASON_NAMES[int(code)]}", float(count) / len(row_codes))
