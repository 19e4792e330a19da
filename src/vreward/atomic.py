"""Atomic file writes: a temporary file beside the target, moved into place only when everything succeeded
(:func:`atomic_writer`, :func:`write_atomic`); likewise a folder filled in full before it appears
(:func:`atomic_directory`).

A reader never sees a half-written file, and a failure (an exception, an interrupt) leaves the old file, if
any, and no temporary file. The file gets the permissions an ordinary ``open()`` would give it (0666 less the
umask, applied by the kernel), not ``tempfile.mkstemp``'s 0600.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """An open file (``mode`` ``"w"``: UTF-8 text, ``"wb"``: bytes) that replaces ``path`` when the block ends
    without an exception; parent directories are created."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, mode, encoding=None if mode == "wb" else "utf-8") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically; returns the path."""
    with atomic_writer(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return Path(path)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """A new, empty folder beside ``path`` to fill; when the block ends without an exception it is moved to
    ``path``, unless ``path`` exists by then (another process made it meanwhile: that one is kept, the new one
    removed). A failure removes the new folder and leaves ``path`` as it was."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(tmp)
        else:
            try:
                os.replace(tmp, path)
            except OSError:  # made between the check and the move
                if not path.is_dir():
                    raise
                shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
