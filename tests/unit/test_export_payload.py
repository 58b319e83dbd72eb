"""Which files an RO-Crate export copies (export/payload.py): the size limit, --no-data,
--include-data, and a file that changed since the run recorded its SHA-256."""

from __future__ import annotations

import hashlib

from orchestrator.export.payload import ALL, NONE, SMALL, Payload


def _file(tmp_path, name: str, data: bytes):
    path = tmp_path / "run" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_small_files_are_copied_large_ones_referenced(tmp_path):
    small, small_sha = _file(tmp_path, "tasks/a[0]/s.txt", b"x" * 10)
    big, big_sha = _file(tmp_path, "tasks/a[0]/b.bin", b"y" * 100)
    p = Payload(tmp_path / "crate", SMALL, max_copy=50)
    s = p.data(small, "tasks/a[0]/s.txt", small_sha)
    b = p.data(big, "tasks/a[0]/b.bin", big_sha)
    assert s.copied and s.id == "tasks/a%5B0%5D/s.txt" and s.sha256 == small_sha
    assert (tmp_path / "crate/tasks/a[0]/s.txt").read_bytes() == b"x" * 10
    assert not b.copied and b.id == big.as_uri() and b.sha256 == big_sha
    assert "over the 50-byte limit" in b.note
    assert (p.copied, p.copied_bytes, p.referenced) == (1, 10, 1)
    assert p.placed("tasks/a[0]/s.txt") is s


def test_no_data_and_include_data(tmp_path):
    big, sha = _file(tmp_path, "b.bin", b"y" * 100)
    none = Payload(tmp_path / "c1", NONE, max_copy=1000).data(big, "b.bin", sha)
    assert not none.copied and "--no-data" in none.note
    assert Payload(tmp_path / "c2", ALL, max_copy=1).data(big, "b.bin", sha).copied
    record = Payload(tmp_path / "c3", NONE).record(big, "b.bin", sha)
    assert record.copied  # how the run was made is always copied


def test_a_changed_or_missing_file_is_referenced_not_copied(tmp_path):
    path, _ = _file(tmp_path, "m.json", b"{}")
    p = Payload(tmp_path / "crate")
    changed = p.data(path, "m.json", "0" * 64)
    assert not changed.copied and changed.sha256 == "0" * 64
    assert "changed since the run recorded it" in changed.note
    assert not (tmp_path / "crate" / "m.json").exists()
    gone = p.data(tmp_path / "run" / "gone.txt", "gone.txt", "1" * 64)
    assert not gone.copied and gone.note == "not found when exported"
