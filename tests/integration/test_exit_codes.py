"""Exit codes and logs of shell stages, end to end: `orch run`, `orch status`, `orch logs`.

On the laptop site (a local process pool) and on HTEX, where the worker's CommandFailed
crosses Parsl's serialisation to the driver.
"""

from __future__ import annotations

import json

import pytest

from .conftest import journal, orch

pytestmark = pytest.mark.timeout(300)

SPEC = """\
apiVersion: orchestrator/v1
name: exits
stages:
  bad:
    shell: "echo some output; echo 'first complaint' >&2; echo 'boom: disk on fire' >&2; exit 3"
  killed:
    shell: "echo about to die >&2; kill -KILL $$"
  flaky:
    shell: >-
      if [ -e tried ]; then echo second-out; echo second-err >&2;
      else touch tried; echo first-out; echo first-err >&2; exit 2; fi
    retries: 1
  ok:
    shell: "echo fine"
"""


@pytest.mark.parametrize("site", ["laptop", "laptop-htex"])
def test_exit_codes_stderr_tails_and_attempt_logs(tmp_path, site):
    from conftest import FIXTURES

    (tmp_path / "wf.yaml").write_text(SPEC)
    run = tmp_path / "run"
    site_ref = "laptop" if site == "laptop" else str(FIXTURES / f"sites/{site}.yaml")
    p = orch("run", str(tmp_path / "wf.yaml"), "--site", site_ref, "--run-dir", str(run), "-q")
    assert p.returncode == 3, p.stderr  # tasks failed
    assert "failed: bad: CommandFailed: command exited with 3" in p.stderr
    assert "  exit code 3\n  | first complaint\n  | boom: disk on fire\n" in p.stderr
    assert "exit code 137 (SIGKILL)" in p.stderr

    ends = {e["task"]: e for e in journal(run) if e["ev"] in ("task_failed", "task_done")}
    assert (ends["bad"]["exit_code"], ends["bad"]["stderr_tail"]) == (
        3, "first complaint\nboom: disk on fire")
    assert (ends["killed"]["exit_code"], ends["killed"]["signal"]) == (137, "SIGKILL")
    assert ends["killed"]["stderr_tail"] == "about to die"
    assert ends["flaky"]["ev"] == "task_done" and ends["flaky"]["attempts"] == 2
    assert ends["ok"]["exit_code"] == 0 and ends["flaky"]["exit_code"] == 0

    status = orch("status", str(run), "--format", "json")
    tasks = {t["id"]: t for t in json.loads(status.stdout)["tasks"]}
    assert (tasks["bad"]["exit_code"], tasks["bad"]["stderr_tail"]) == (
        3, "first complaint\nboom: disk on fire")
    assert tasks["killed"]["signal"] == "SIGKILL"
    text = orch("status", str(run)).stdout
    assert "exit code 3; stderr:" in text and "| boom: disk on fire" in text

    logs = orch("logs", str(run), "flaky", "--stderr")
    assert logs.returncode == 0, logs.stderr
    assert [ln.split(" (at ")[0] for ln in logs.stdout.splitlines()] == [
        "==> flaky attempt 1 stderr", "first-err", "==> flaky attempt 2 stderr", "second-err"]
    first = orch("logs", str(run), "flaky", "--attempt", "1", "--stdout")
    assert (first.returncode, first.stdout) == (0, "first-out\n")
    second = orch("logs", str(run), "flaky", "--attempt", "2", "--stdout")
    assert second.stdout == "second-out\n"
