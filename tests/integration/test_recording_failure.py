"""A completion the journal does not take fails the run (exit 70, status 'crashed'); it
never ends as `succeeded` with a task missing from the journal.

A failing journal write cannot be produced on demand by a real disk here, so the driver's
`_finish` is made to raise for the last task only: the moment at which the wait used to
see every task counted and stop before the failure was reported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import REPO, journal, wait_no_processes

pytestmark = pytest.mark.timeout(120)

DRIVER = """\
import sys
from orchestrator.backends import driver as R
from orchestrator.state.states import TaskState
finish = R.Driver._finish
def failing(self, tid, state, *a, **k):
    if tid == "gather" and state is TaskState.DONE:
        raise OSError(28, "No space left on device (injected)")
    return finish(self, tid, state, *a, **k)
R.Driver._finish = failing
from orchestrator.cli.app import main
sys.exit(main(sys.argv[1:]))
"""


def test_failing_to_record_the_last_task_fails_the_run(tmp_path):
    run_dir = tmp_path / "run"
    p = subprocess.run([sys.executable, "-c", DRIVER, "run",
                        str(REPO / "workflows" / "hello-sweep" / "workflow.yaml"),
                        "--site", "laptop", "--set", "n=3", "--set", "seconds=0",
                        "--run-dir", str(run_dir), "-q"],
                       capture_output=True, text=True, timeout=100)
    assert p.returncode == 70, p.stdout + p.stderr
    assert "No space left on device (injected)" in p.stderr
    events = journal(run_dir)
    done = {e["task"] for e in events if e["ev"] == "task_done"}
    assert done == {"work[0]", "work[1]", "work[2]"}
    assert events[-1]["ev"] == "run_finished" and events[-1]["state"] == "crashed"
    assert not wait_no_processes(str(run_dir))
