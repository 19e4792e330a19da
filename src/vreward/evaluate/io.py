"""Reading saved completions: JSONL (streamed), a JSON list, or a Hugging Face dataset saved on disk.

Every record keeps where it came from, 1-based (its line in a JSONL file, its position in a JSON list or a
dataset), so that a bad record is named: ``in.jsonl:7: problem``, ``in.json: record 7: problem``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from vreward.evaluate.base import Record

InputFormat = Literal["auto", "jsonl", "json", "hf"]


class InputError(ValueError):
    """A record that cannot be read: names the file, the line and the problem."""


def detect_format(path: Path) -> str:
    """``hf`` for a directory, ``json`` for a file holding one JSON list, else ``jsonl``."""
    if path.is_dir():
        return "hf"
    with path.open("rb") as f:
        head = f.read(4096).lstrip()
    return "json" if head.startswith(b"[") else "jsonl"


def record_location(path: Path, fmt: InputFormat, line: int) -> str:
    """How messages name the record at ``line`` (:attr:`Record.line`) of ``path``: ``path:line`` in a JSONL file,
    ``path: record line`` in a JSON list or a dataset."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    return f"{path}:{line}" if fmt == "jsonl" else f"{path}: record {line}"


def read_records(path: Path, fmt: InputFormat = "auto", *, skip_bad: bool = False, bad: Counter | None = None,
                 split: str | None = None) -> Iterator[Record]:
    """Yield the records of ``path``; malformed ones raise :class:`InputError` or, with ``skip_bad``, are
    counted in ``bad`` (by problem) and skipped."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    bad = Counter() if bad is None else bad
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "jsonl":
        yield from _jsonl(path, skip_bad, bad)
    elif fmt == "json":
        yield from _json_list(path, skip_bad, bad)
    else:
        yield from _hf_dataset(path, split)


def _jsonl(path: Path, skip_bad: bool, bad: Counter) -> Iterator[Record]:
    import orjson

    with path.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if skip_bad:
                    bad["malformed JSON"] += 1
                    continue
                raise InputError(f"{record_location(path, 'jsonl', lineno)}: malformed JSON ({exc})") from None
            if not isinstance(data, dict):
                if skip_bad:
                    bad["not a JSON object"] += 1
                    continue
                raise InputError(f"{record_location(path, 'jsonl', lineno)}: expected a JSON object, "
                                 f"got {type(data).__name__}")
            yield Record(lineno, data)


def _json_list(path: Path, skip_bad: bool, bad: Counter) -> Iterator[Record]:
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except ValueError as exc:
        raise InputError(f"{path}: malformed JSON: {exc}") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict):
            if skip_bad:
                bad["not a JSON object"] += 1
                continue
            raise InputError(f"{record_location(path, 'json', i)}: expected a JSON object, got {type(item).__name__}")
        yield Record(i, item)


def _hf_dataset(path: Path, split: str | None) -> Iterator[Record]:
    try:
        import datasets
    except ImportError:
        raise InputError(f"{path}: reading a Hugging Face dataset needs `datasets` (pip install datasets)") from None
    try:
        ds = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"{path}: not a dataset saved with save_to_disk: {exc}") from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            if len(ds) != 1:
                raise InputError(f"{path}: a DatasetDict with splits {sorted(ds)}: choose one with --split")
            split = next(iter(ds))
        if split not in ds:
            raise InputError(f"{path}: no split {split!r}; splits are {sorted(ds)}")
        ds = ds[split]
    for i, row in enumerate(ds, 1):
        yield Record(i, row)


def batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    """Group records into lists of ``size`` (the last may be shorter)."""
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
