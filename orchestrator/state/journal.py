"""The run journal: an append-only JSON-lines file of task events, fsync'd in groups.

It is the truth for `status`, `report` and `--resume`. One writer (the driver)
appends; a background thread writes and fsyncs batches (group commit) at most
every `interval` seconds (20 ms) unless someone is waiting in `flush()`, so the
cost of durability does not grow with the task rate. Each record is one line
ending in a newline and carrying a CRC32 of its body: a torn or corrupted last
record is ignored by readers and cut off by the next writer, so the journal
stays readable whatever moment the process dies at.
"""

from __future__ import annotations

import json
import os
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

JOURNAL_NAME = "journal.jsonl"


def _encode(record: dict[str, Any]) -> bytes:
    body = json.dumps(record, separators=(",", ":"), default=str)
    crc = zlib.crc32(body.encode()) & 0xFFFFFFFF
    return f'{body[:-1]},"crc":{crc}}}\n'.encode()


def _decode(line: bytes) -> dict[str, Any] | None:
    """A record, or None when the line is torn or corrupt."""
    if not line.endswith(b"\n"):
        return None
    text = line[:-1].decode("utf-8", errors="replace")
    head, sep, tail = text.rpartition(',"crc":')
    if not sep or not tail.endswith("}"):
        return None
    try:
        crc = int(tail[:-1])
    except ValueError:
        return None
    body = head + "}"
    if zlib.crc32(body.encode()) & 0xFFFFFFFF != crc:
        return None
    try:
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def read_journal(path: Path, events: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
    """Every intact record, in order; torn or corrupt lines are skipped. `events`: only
    lines that mention one of these events are decoded (a cheap byte test first, so a
    reader after one kind of record skips the CRC and JSON work of the rest); callers
    still check `ev`."""
    marks = tuple(f'"ev":"{e}"'.encode() for e in events) if events is not None else None
    try:
        with open(path, "rb") as f:
            for line in f:
                if marks is not None and not any(m in line for m in marks):
                    continue
                record = _decode(line)
                if record is not None:
                    yield record
    except FileNotFoundError:
        return


def _repair_tail(path: Path) -> None:
    """Cut a torn last line so new records start on a line of their own."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return
        block = 1 << 16
        pos = size
        keep = 0
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                keep = start + idx + 1
                break
            pos = start
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())


class Journal:
    """Appends records; `flush()` returns once everything appended is on disk."""

    def __init__(self, path: Path, fsync: bool = True, interval: float = 0.02):
        self.path = Path(path)
        self.fsync = fsync
        self.interval = interval
        _repair_tail(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._pending: list[bytes] = []
        self._cond = threading.Condition()
        self._written = 0
        self._queued = 0
        self._closed = False
        self._urgent = 0  # flush() callers waiting: write now
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._writer, name="orch-journal", daemon=True)
        self._thread.start()

    def append(self, event: str, **fields: Any) -> None:
        record = {"ts": round(time.time(), 6), "ev": event, **fields}
        data = _encode(record)
        with self._cond:
            if self._error:
                raise RuntimeError(f"journal write failed: {self._error}")
            if self._closed:
                raise RuntimeError("journal is closed")
            self._pending.append(data)
            self._queued += 1
            if len(self._pending) == 1:  # the writer sleeps until the first record only
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        with self._cond:
            target = self._queued
            self._urgent += 1
            self._cond.notify_all()
            try:
                self._cond.wait_for(lambda: self._written >= target or self._error is not None,
                                    timeout)
            finally:
                self._urgent -= 1
            if self._error:
                raise RuntimeError(f"journal write failed: {self._error}")

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        os.close(self._fd)

    def _writer(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if self.interval > 0:  # let a group gather (flush and close cut it short)
                    self._cond.wait_for(lambda: self._closed or self._urgent, self.interval)
                batch, self._pending = self._pending, []
                closing = self._closed
            if batch:
                try:
                    os.write(self._fd, b"".join(batch))
                    if self.fsync:
                        os.fsync(self._fd)
                except OSError as exc:
                    with self._cond:
                        self._error = exc
                        self._cond.notify_all()
                    return
            with self._cond:
                self._written += len(batch)
                self._cond.notify_all()
                if closing and not self._pending:
                    return

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
