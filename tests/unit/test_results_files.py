"""Per-worker result files: one line per finished task, torn tails skipped, last record per
task wins (what `--resume` and the report read)."""

from __future__ import annotations

import json
import os

from orchestrator.state.results import append_result, results_by_key, results_by_task


def test_append_and_read_back_skipping_a_torn_tail(tmp_path):
    run = str(tmp_path)
    append_result(run, json.dumps({"task": "a", "key": "k1", "result": 1, "ended": 1.0}))
    append_result(run, json.dumps({"task": "a", "key": "k2", "result": 2, "ended": 2.0}))
    files = list((tmp_path / "results").iterdir())
    assert len(files) == 1 and files[0].name.endswith(f"-{os.getpid()}.jsonl")
    with open(files[0], "a") as f:
        f.write('{"task": "b", "key": "k3", "res')  # the worker died mid-write
    (tmp_path / "results" / "other-1.jsonl").write_text(
        "not json\n" + json.dumps({"task": "c", "key": "k4", "result": 4}) + "\n")
    assert set(results_by_key(tmp_path)) == {"k1", "k2", "k4"}
    by_task = results_by_task(tmp_path)
    assert by_task["a"]["result"] == 2 and "b" not in by_task and by_task["c"]["result"] == 4


def test_no_results_folder_reads_as_empty(tmp_path):
    assert results_by_key(tmp_path) == {} and results_by_task(tmp_path) == {}
