"""Exit codes, signals and stderr tails of shell commands; attempt numbers; `orch logs`.

Journals are synthetic (the real `Journal` writer); the worker's `_run_bash` runs real
bash under the real capture buffers. Nothing here needs Parsl.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
from pathlib import Path

import pytest
from conftest import assert_clean_failure, run_cli

from orchestrator.backends.exits import exit_status, fd_size, fd_tail
from orchestrator.backends.failures import failure_fields, tries_before
from orchestrator.backends.parsl.attempts import number_next_try
from orchestrator.backends.task_io import captured
from orchestrator.backends.worker import CommandFailed, TaskFailure, _run_bash
from orchestrator.report.html import render_report
from orchestrator.report.status_text import render_status
from orchestrator.state.journal import Journal
from orchestrator.state.status import load_status
from orchestrator.state.status_json import status_json
from orchestrator.state.task_logs import attempt_header, split_sections

T0 = 1_700_000_000.0


# ---------------------------------------------------------------- exit status, tails


@pytest.mark.parametrize(("rc", "expected"), [
    (3, (3, None)), (1, (1, None)), (255, (255, None)),
    (-9, (137, "SIGKILL")), (-15, (143, "SIGTERM")),
    (137, (137, "SIGKILL")), (130, (130, "SIGINT")), (128, (128, None)),
])
def test_exit_status(rc, expected):
    assert exit_status(rc) == expected


def test_fd_tail_reads_only_what_was_written_after_the_offset():
    fd = os.memfd_create("t")
    try:
        os.write(fd, b"before the command\n")
        since = fd_size(fd)
        os.write(fd, b"".join(b"line %d\n" % k for k in range(30)) + b"\n\nlast \xff\n")
        tail = fd_tail(fd, since)
        assert tail.splitlines() == [f"line {k}" for k in range(21, 30)] + ["last \ufffd"]
        assert "before" not in fd_tail(fd, since, lines=100)
        os.write(fd, b"x" * 5000 + b"\nend\n")
        assert fd_tail(fd, since, lines=3) == "end"  # the cut first line (x...) is dropped
        assert len(fd_tail(fd, 0, lines=100)) <= 2048
        assert fd_tail(fd, fd_size(fd)) == "" and fd_tail(fd, None) == ""
    finally:
        os.close(fd)
    r, w = os.pipe()
    try:
        assert fd_size(r) is None and fd_tail(r, 0) == ""
    finally:
        os.close(r)
        os.close(w)


def test_command_failed_pickles_round_trip():
    exc = CommandFailed(137, "SIGKILL", "oom\nkilled", "/run/tasks/x/stderr")
    for copy in (pickle.loads(pickle.dumps(exc)),
                 pickle.loads(pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL))):
        assert type(copy) is CommandFailed and isinstance(copy, TaskFailure)
        assert (copy.exit_code, copy.signal, copy.stderr_tail, copy.where) == (
            137, "SIGKILL", "oom\nkilled", "/run/tasks/x/stderr")
        assert str(copy) == str(exc) == \
            "command was killed by SIGKILL (exit 137); see /run/tasks/x/stderr"
    assert str(CommandFailed(3, None, "", "f")) == "command exited with 3; see f"


def test_stage_raised_carries_the_remote_exception_through_pickling():
    from orchestrator.backends.failures import failure_fields
    from orchestrator.backends.worker import StageRaised

    exc = StageRaised(1, None, "Traceback ...\nValueError: bad", "/r/stderr", "ValueError",
                      "bad\nsecond line")
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is StageRaised and isinstance(copy, CommandFailed)
    assert (copy.type_name, str(copy), copy.exit_code) == ("ValueError", "bad\nsecond line", 1)
    assert failure_fields(copy) == {"exit_code": 1,
                                    "stderr_tail": "Traceback ...\nValueError: bad"}


def _bash_in_capture(tmp_path: Path, command: str, attempt: int | None = None):
    payload = {"task_id": "t", **({"attempt": attempt} if attempt else {})}
    with captured(str(tmp_path), payload):
        os.write(2, b"python-level noise before the command\n")
        return _run_bash(command, tmp_path)


def test_run_bash_raises_with_exit_code_and_tail(tmp_path):
    with pytest.raises(CommandFailed) as info:
        _bash_in_capture(tmp_path, "echo out; for i in $(seq 1 15); do echo err $i >&2; done;"
                                   " exit 3")
    exc = info.value
    assert (exc.exit_code, exc.signal) == (3, None)
    assert exc.stderr_tail.splitlines() == [f"err {i}" for i in range(6, 16)]
    assert "noise" not in exc.stderr_tail  # only what the command wrote
    stderr = (tmp_path / "stderr").read_text()  # and the full stderr is still spilled
    assert stderr.startswith("--- t attempt 1 at ") and "err 1\n" in stderr
    assert _bash_in_capture(tmp_path, "true") == {"exit_code": 0}


@pytest.mark.parametrize("command", ["echo dying >&2; kill -KILL $$",
                                     "echo dying >&2; sleep 5 & kill -KILL $!; wait $!"])
def test_run_bash_reports_a_signal(tmp_path, command):
    with pytest.raises(CommandFailed) as info:
        _bash_in_capture(tmp_path, command)
    assert (info.value.exit_code, info.value.signal) == (128 + signal.SIGKILL, "SIGKILL")
    assert "killed by SIGKILL" in str(info.value)
    assert info.value.stderr_tail.startswith("dying")


def test_header_carries_the_attempt(tmp_path):
    with pytest.raises(CommandFailed):
        _bash_in_capture(tmp_path, "echo second >&2; exit 1", attempt=2)
    assert (tmp_path / "stderr").read_text().startswith("--- t attempt 2 at ")
    assert not (tmp_path / "stdout").exists()  # a silent stream leaves no file


# ---------------------------------------------------------------- attempts (driver side)


def test_number_next_try_rewrites_json_and_dict_payloads():
    record = {"args": ('{"task_id":"a","x":1}',)}
    number_next_try(record)
    assert isinstance(record["args"], tuple) and json.loads(record["args"][0]) == {
        "task_id": "a", "x": 1, "attempt": 2}
    number_next_try(record)
    assert json.loads(record["args"][0])["attempt"] == 3
    payload = {"task_id": "b"}
    record = {"args": [payload, "other"]}
    number_next_try(record)
    assert record["args"] == [{"task_id": "b", "attempt": 2}, "other"]
    assert payload == {"task_id": "b"}  # the submitted payload (shared) is not changed
    untouched = {"args": [42]}
    number_next_try(untouched)
    assert untouched == {"args": [42]}


def test_tries_before_sums_failed_attempts_of_earlier_runs():
    records = [{"ev": "task_failed", "task": "a", "attempts": 2},
               {"ev": "task_done", "task": "b", "attempts": 1},
               {"ev": "task_failed", "task": "a", "attempts": 3},
               {"ev": "task_failed", "task": "c"}]
    assert tries_before(records) == {"a": 5, "c": 1}


def test_failure_fields():
    assert failure_fields(CommandFailed(3, None, "x", "f")) == {"exit_code": 3,
                                                                "stderr_tail": "x"}
    assert failure_fields(CommandFailed(137, "SIGKILL", "", "f")) == {"exit_code": 137,
                                                                      "signal": "SIGKILL"}
    assert failure_fields(ValueError("python stage")) == {}
    from orchestrator.errors import UserError

    assert failure_fields(UserError("has a class-level exit_code")) == {}


# ---------------------------------------------------------------- log sections


def test_sections_split_by_attempt_header():
    text = (attempt_header("s[1]", 1, T0) + "one\n" + attempt_header("s[1]", 2, T0 + 5)
            + "two\n--- s[2] attempt 1 at 2020-01-01T00:00:00 ---\nstill two\n")
    secs = split_sections(text, "s[1]")
    assert [(s.attempt, s.text) for s in secs] == [
        (1, "one\n"), (2, "two\n--- s[2] attempt 1 at 2020-01-01T00:00:00 ---\nstill two\n")]
    assert secs[0].at and secs[0].at.startswith("20")
    legacy = "--- s attempt at 2020-01-01T00:00:00 ---\na\n--- s attempt at 2020-01-01T00:01:00 ---\nb\n"
    assert [(s.attempt, s.text) for s in split_sections(legacy, "s")] == [(1, "a\n"), (2, "b\n")]
    assert split_sections("", "s") == []


# ---------------------------------------------------------------- status, report, logs


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    tdir = run / "tasks" / "bad"
    tdir.mkdir(parents=True)
    (tdir / "stderr").write_text(attempt_header("bad", 1, T0) + "first try\n"
                                 + attempt_header("bad", 2, T0 + 1) + "disk on fire\n")
    (tdir / "stdout").write_text(attempt_header("bad", 1, T0) + "out one\n")
    plan = {"format": 1, "workflow": "wf", "site": "laptop",
            "stages": [{"name": "bad", "tasks": 1, "loop": None},
                       {"name": "good", "tasks": 1, "loop": None}],
            "loops": [], "tasks": [{"id": "bad", "stage": "bad"}, {"id": "good", "stage": "good"}]}
    (run / "plan.json").write_text(json.dumps(plan))
    with Journal(run / "journal.jsonl", fsync=False) as j:
        j.append("run_started", workflow="wf", site="laptop", attempt=1, pid=2**22 + 1)
        j.append("task_done", task="good", stage="good", key="g", result={"exit_code": 0},
                 started=T0, ended=T0 + 1, attempts=1, exit_code=0)
        j.append("task_failed", task="bad", stage="bad", key="b", attempts=2, ended=T0 + 2,
                 error="CommandFailed: command exited with 3; see x", exit_code=3,
                 stderr_tail="disk on fire", stdout=str(tdir / "stdout"),
                 stderr=str(tdir / "stderr"))
        j.append("run_finished", state="failed", seconds=2.0)
    return run


def test_status_shows_exit_code_and_stderr_tail(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    st = load_status(_run_dir(tmp_path))
    by_id = {t["id"]: t for t in status_json(st)["tasks"]}
    assert (by_id["bad"]["exit_code"], by_id["bad"]["stderr_tail"]) == (3, "disk on fire")
    assert by_id["bad"]["signal"] is None
    assert (by_id["good"]["exit_code"], by_id["good"]["stderr_tail"]) == (0, None)
    buf = io.StringIO()
    render_status(st, file=buf)
    text = buf.getvalue()
    assert "exit code 3; stderr:" in text and "| disk on fire" in text
    assert "| first try" not in text  # the journaled tail is the last attempt's
    html = render_report(st.run_dir)
    assert '<p class="exit">exit code 3</p>' in html and "disk on fire" in html


def test_logs_command(tmp_path):
    run = _run_dir(tmp_path)
    res = run_cli("logs", run, "bad")
    assert res.rc == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [ln.split(" (at ")[0] for ln in lines] == [
        "==> bad attempt 1 stdout", "out one", "==> bad attempt 1 stderr", "first try",
        "==> bad attempt 2 stderr", "disk on fire"]
    res = run_cli("logs", run, "bad", "--attempt", "1", "--stderr")
    assert (res.rc, res.stdout) == (0, "first try\n")  # one part: bare text
    res = run_cli("logs", run, "bad", "--stderr", "--tail", "1")
    assert "first try" in res.stdout and res.stdout.count("==>") == 2
    res = run_cli("logs", run, "bda")
    assert_clean_failure(res, 1)
    assert "no task 'bda'" in res.stderr and "did you mean 'bad'?" in res.stderr
    res = run_cli("logs", run, "bad", "--attempt", "3")
    assert_clean_failure(res, 1)
    assert "attempts with output: 1, 2" in res.stderr
    res = run_cli("logs", run, "good")
    assert res.rc == 0 and res.stdout == "" and "wrote nothing" in res.stderr
    assert_clean_failure(run_cli("logs", run, "bad", "--attempt", "0"), 2)
