"""Atomic writes: the file appears whole or not at all, with the permissions an ordinary open() gives."""

from __future__ import annotations

import os
import stat

import pytest

from vreward.atomic import atomic_writer, write_atomic


def test_text_and_bytes_replace_the_file_and_create_folders(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    assert write_atomic(target, "héllo\n") == target
    assert target.read_bytes() == "héllo\n".encode()
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_permissions_are_those_of_open_under_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "new.txt", "x")
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "new.txt").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o666 & ~umask


def test_a_failure_inside_the_block_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_writer(target) as f:
        f.write("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_only_write_modes(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_writer(tmp_path / "x", "a"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_folder_appears_whole_and_an_existing_one_is_kept(tmp_path):
    from vreward.atomic import atomic_directory

    target = tmp_path / "cache" / "entry"
    with atomic_directory(target) as build:
        assert not target.exists() and build.parent == target.parent
        (build / "done.json").write_text("1")
    assert (target / "done.json").read_text() == "1"
    with atomic_directory(target) as build:  # made meanwhile by another process: that one stays
        (build / "done.json").write_text("2")
    assert (target / "done.json").read_text() == "1"
    assert [p.name for p in target.parent.iterdir()] == ["entry"]


def test_a_failure_removes_the_new_folder(tmp_path):
    from vreward.atomic import atomic_directory

    with pytest.raises(KeyboardInterrupt), atomic_directory(tmp_path / "entry") as build:
        (build / "half").write_text("x")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
