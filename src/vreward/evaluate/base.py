"""What every task's metrics implement, and the records they see."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vreward.parsing import ParsedBatch
from vreward.rewards.base import RewardBatch


@dataclass(frozen=True)
class Record:
    """One saved completion: where it came from and its fields.

    ``line`` is 1-based: the record's line in a JSONL file, its position in a JSON list or a dataset.
    """

    line: int
    data: dict[str, Any]


class RecordError(ValueError):
    """A record the task's metrics cannot use: ``line N: problem`` (``line``: the record's :attr:`Record.line`).

    ``vreward score`` names the input file instead of ``line N`` (:func:`vreward.evaluate.io.record_location`).
    """

    def __init__(self, line: int, problem: str):
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class Figure:
    """A plot written for the report."""

    title: str
    path: Path
    caption: str = ""


@dataclass
class Sample:
    """A record shown in the report's gallery of worst-scored samples."""

    line: int
    score: float
    reason: str | None
    completion: str
    image_path: str | None = None
    predicted: list[list[float]] = field(default_factory=list)  # boxes in image pixels (x1, y1, x2, y2)
    truth: list[list[float]] = field(default_factory=list)  # boxes in image pixels
    label: str | None = None


class TaskMetrics(Protocol):
    """Accumulates a task's metrics batch by batch, in bounded memory."""

    def columns(self, records: list[Record]) -> dict[str, list[Any]]:
        """Extra columns the rewards need that the records may lack (e.g. ground truth from a COCO file)."""
        ...

    def add(self, records: list[Record], columns: dict[str, list[Any]], parsed: ParsedBatch,
            results: dict[str, RewardBatch]) -> None:
        """Take one scored batch (``columns`` as passed to the rewards, ``results`` by reward name)."""
        ...

    def finalize(self) -> dict[str, Any]:
        """The task's metrics, JSON-serializable with stable keys."""
        ...

    def table(self) -> list[str]:
        """Lines of a readable terminal table of the metrics (after :meth:`finalize`)."""
        ...

    def figures(self, out_dir: Path) -> list[Figure]:
        """Write the task's plots (PNG) under ``out_dir`` (after :meth:`finalize`)."""
        ...

    def samples_pixels(self, sample: Sample, columns_row: dict[str, Any]) -> Sample:
        """Fill the sample's boxes in image pixels for drawing (``columns_row``: that record's columns)."""
        ...
