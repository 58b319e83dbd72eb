"""Scenario 6, journal crash-consistency: cut the journal at every byte of its last records,
or end it with random garbage; a load always succeeds and loses at most the torn record, and
the next writer continues it cleanly."""

from __future__ import annotations

import os
import random

import pytest

from orchestrator.state.journal import Journal, read_journal

LAST = 6  # records whose every byte is a cut point (RELIABILITY_SLOW: 40)


def _write(path, n: int) -> list[bytes]:
    """n records of varied size (unicode, escapes, nested results); their encoded lines."""
    with Journal(path) as j:
        for i in range(n):
            j.append("task_done", task=f"t{i}", result={"i": i, "text": "é\n\"q\\" * (i % 4),
                                                        "nested": [{"k": list(range(i % 7))}]})
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    assert len(lines) == n
    return lines


def _tasks(path) -> list[str]:
    return [r["task"] for r in read_journal(path)]


@pytest.mark.parametrize("last", [LAST, pytest.param(40, marks=pytest.mark.slow_reliability)])
def test_every_cut_in_the_last_records_loses_only_the_torn_one(tmp_path, figure, last):
    path = tmp_path / "journal.jsonl"
    n = 40
    lines = _write(path, n)
    data = b"".join(lines)
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln))
    first_cut = starts[n - last]
    cuts = 0
    for cut in range(first_cut, len(data) + 1):
        path.write_bytes(data[:cut])
        whole = sum(1 for s in starts[1:] if s <= cut)  # records entirely before the cut
        got = _tasks(path)
        assert got == [f"t{i}" for i in range(whole)], cut  # exactly the intact prefix
        # the next writer cuts the torn tail and appends on a line of its own
        with Journal(path, fsync=False) as j:  # the repair is what is tested
            j.append("task_done", task="next")
        assert _tasks(path) == [*(f"t{i}" for i in range(whole)), "next"], cut
        cuts += 1
    figure(f"{cuts} cut points across the last {last} of {n} records: every load succeeded, "
           f"lost at most the torn record, and the next writer appended cleanly",
           cuts=cuts, records=n, last_records=last)


@pytest.mark.parametrize("seed,trials", [(0, 300), (1, 300), (2, 300), pytest.param(
    3, 5000, marks=pytest.mark.slow_reliability)])
def test_random_garbage_tails(tmp_path, figure, seed, trials):
    rnd = random.Random(seed)
    path = tmp_path / "journal.jsonl"
    n = 20
    lines = _write(path, n)
    for _ in range(trials):
        keep = rnd.randint(n - LAST, n)
        body = b"".join(lines[:keep])
        kind = rnd.choice(["bytes", "newlines", "nul", "half-record", "flipped"])
        if kind == "bytes":
            tail = os.urandom(rnd.randint(1, 300))
        elif kind == "newlines":  # garbage that looks like whole lines
            tail = b"\n".join(os.urandom(rnd.randint(0, 40)) for _ in range(rnd.randint(1, 5)))
            tail += b"\n"
        elif kind == "nul":  # a filesystem that extended the file with zeros after a crash
            tail = b"\0" * rnd.randint(1, 4096)
        elif kind == "half-record":  # a record torn, then another write after it
            rec = lines[rnd.randrange(n)]
            tail = rec[: rnd.randint(1, len(rec) - 1)] + lines[rnd.randrange(n)]
        else:  # one byte flipped inside a complete record: its CRC no longer matches
            rec = bytearray(lines[rnd.randrange(n)])
            pos = rnd.randrange(len(rec) - 1)
            rec[pos] = (rec[pos] + rnd.randint(1, 254)) % 256
            if rec[pos] == ord("\n"):
                rec[pos] = ord("x")
            tail = bytes(rec)
        path.write_bytes(body + tail)
        got = _tasks(path)
        prefix = [f"t{i}" for i in range(keep)]
        assert got[:keep] == prefix, (kind, keep)
        # whatever follows the intact prefix is at most copies of real records (a torn
        # record followed by a whole one); garbage never turns into a record
        assert all(t in {f"t{i}" for i in range(n)} for t in got[keep:]), (kind, got[keep:])
        assert len(got) - keep <= 1, (kind, got[keep:])
        with Journal(path, fsync=False) as j:  # the repair is what is tested
            j.append("task_done", task="next")
        after = _tasks(path)
        assert after[:keep] == prefix and after[-1] == "next", (kind, keep)
    figure(f"{trials} garbage tails (random bytes, fake lines, NUL runs, torn+whole records, "
           f"flipped bytes): every load kept the intact prefix, no garbage became a record, "
           f"the next writer appended cleanly", trials=trials, seed=seed)
