"""The journal stays readable whatever byte a crash stops it at."""

from __future__ import annotations

import threading

from orchestrator.state.journal import Journal, read_journal


def _write(path, n):
    with Journal(path) as j:
        for i in range(n):
            j.append("task_done", task=f"t{i}", result={"i": i, "text": "é\n\"q\""})
    return path.read_bytes()


def test_roundtrip_and_order(tmp_path):
    data = _write(tmp_path / "j", 50)
    recs = list(read_journal(tmp_path / "j"))
    assert [r["task"] for r in recs] == [f"t{i}" for i in range(50)]
    assert recs[3]["result"] == {"i": 3, "text": "é\n\"q\""}
    assert "crc" not in recs[0]
    assert data.count(b"\n") == 50


def test_truncation_at_every_byte_of_last_record(tmp_path):
    path = tmp_path / "j"
    data = _write(path, 3)
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_start, len(data)):
        path.write_bytes(data[:cut])
        assert [r["task"] for r in read_journal(path)] == ["t0", "t1"], cut
        # the next writer cuts the torn tail and appends cleanly
        with Journal(path) as j:
            j.append("task_done", task="next")
        assert [r["task"] for r in read_journal(path)] == ["t0", "t1", "next"], cut


def test_corrupt_record_is_skipped(tmp_path):
    path = tmp_path / "j"
    data = _write(path, 3)
    lines = data.split(b"\n")
    lines[1] = lines[1].replace(b"t1", b"tX")  # same length, CRC no longer matches
    path.write_bytes(b"\n".join(lines))
    assert [r["task"] for r in read_journal(path)] == ["t0", "t2"]


def test_flush_makes_concurrent_appends_durable(tmp_path):
    path = tmp_path / "j"
    j = Journal(path)
    threads = [threading.Thread(target=lambda k=k: [j.append("e", k=k, i=i) for i in range(200)])
               for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    j.flush()
    assert len(list(read_journal(path))) == 800
    j.close()


def test_missing_journal_reads_empty(tmp_path):
    assert list(read_journal(tmp_path / "none")) == []
