"""`orch export RUN --ro-crate DIR` on real runs (laptop site): the crate passes the
community validator (roc-validator, Provenance Run Crate 0.5 and the profiles it extends)
and reads back with the `rocrate` library with every task, file, hash and lineage link.

The workflow (wf/crate.yaml) extends the executable-sweep template: mesh -> solve[*] (in
the site's `solver` environment) -> collect, then train (a model from collect's table) ->
predict[*] (the runs that use the model); `--set fail=true` makes predict[1] fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
from needs import require

from .conftest import REPO, WF, orch

pytestmark = pytest.mark.timeout(300)

VALIDATOR = REPO / ".envs" / "rocrate-validator"
PROFILE = "provenance-run-crate-0.5"
PROFILES = {"provenance-run-crate-0.5", "workflow-run-crate-0.5", "process-run-crate-0.5",
            "workflow-ro-crate-1.0", "ro-crate-1.1"}
TASKS = ["mesh", "solve[0]", "solve[1]", "collect", "train", "predict[0]", "predict[1]"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One run that succeeded and one in which predict[1] failed."""
    base = tmp_path_factory.mktemp("runs")
    out = {}
    for name, sets, rc in (("ok", [], 0), ("failed", ["--set", "fail=true"], 3)):
        out[name] = base / name
        p = orch("run", str(WF / "crate.yaml"), "--site", "laptop", *sets,
                 "--run-dir", str(out[name]), "-q")
        assert p.returncode == rc, p.stderr
    return out


def export(run: Path, crate: Path, *extra: str) -> subprocess.CompletedProcess:
    p = orch("export", str(run), "--ro-crate", str(crate), *extra)
    assert p.returncode == 0, p.stderr
    return p


def rocrate_validate(crate: Path, tmp_path: Path) -> tuple[int, dict]:
    """roc-validator, offline (its HTTP cache holds the RO-Crate 1.1 context), REQUIRED
    checks of the Provenance Run Crate 0.5 profile and every profile it inherits."""
    exe = VALIDATOR / "bin" / "rocrate-validator"
    cache = VALIDATOR / "http-cache.sqlite"
    require(None if exe.is_file() and cache.is_file() else
            "rocrate-validator is not installed (bash scripts/install-crate-validator.sh)")
    shutil.copy(cache, tmp_path / "cache.sqlite")
    report = tmp_path / "validation.json"
    p = subprocess.run([str(exe), "-y", "--disable-color", "validate", "--offline",
                        "--cache-path", str(tmp_path / "cache"), "-p", PROFILE, "--no-paging",
                        "-f", "json", "-o", str(report), str(crate)],
                       capture_output=True, text=True, timeout=240)
    assert report.is_file(), p.stdout + p.stderr
    return p.returncode, json.loads(report.read_text())


def issues(report: dict) -> list[str]:
    return [f"{i.get('severity')}: {i.get('message')} ({i.get('focusNode')})"
            for i in report.get("issues") or []]


def read_crate(crate: Path):
    try:
        from rocrate.rocrate import ROCrate
    except ImportError:
        require("the rocrate library is not installed (pip install -e '.[dev]')")
    return ROCrate(str(crate))


def many(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def ids(value) -> set[str]:
    return {e.id for e in many(value)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- a run that succeeded --------------------------------------------------------------
def test_export_validates_and_reads_back(runs, tmp_path):
    crate = tmp_path / "crate"
    p = export(runs["ok"], crate, "--format", "json")
    summary = json.loads(p.stdout)
    assert summary["ok"] and summary["state"] == "succeeded" and summary["tasks"] == len(TASKS)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temp folder left

    rc, report = rocrate_validate(crate, tmp_path)
    assert report["passed"] and rc == 0, issues(report)
    assert set(report["statistics"]["profiles"]) == PROFILES
    assert report["statistics"]["total_checks"] >= 80

    c = read_crate(crate)
    conforms = ids(c.root_dataset["conformsTo"])
    assert "https://w3id.org/ro/wfrun/provenance/0.5" in conforms
    main = c.mainEntity
    assert "ComputationalWorkflow" in main.type and main["name"] == "crate"
    assert sha256(crate / unquote(main.id)) == sha256(WF / "crate.yaml")
    template = next(e for e in many(main["isBasedOn"]) if "executable-sweep" in e.id)
    assert template["version"] == "1.0"
    shipped = REPO / "workflows" / "templates"  # a file, or a directory template
    source = next(p for p in (shipped / "executable-sweep.yaml",
                              shipped / "executable-sweep" / "template.yaml") if p.is_file())
    assert template["sha256"] == sha256(source)
    assert (crate / unquote(template.id)).is_file()

    # params: FormalParameters with this run's values; the site config as configuration
    run = c.get("#workflow-run")
    assert run["actionStatus"] == "http://schema.org/CompletedActionStatus"
    assert run["instrument"].id == main.id
    values = {e["name"]: e for e in many(run["object"]) if e.type == "PropertyValue"}
    assert values["n_cases"]["value"] == 2 and values["fail"]["value"] is False
    assert values["n_cases"]["exampleOfWork"]["additionalType"] == "Integer"
    site = next(e for e in many(run["object"]) if e.id.startswith("site/"))
    meta = json.loads((runs["ok"] / "run.json").read_text())
    assert site["sha256"] == meta["site_sha256"] == sha256(crate / site.id)

    # every task an action of its stage's tool, with times, host and status
    actions = {e["name"].removeprefix("task "): e for e in c.get_entities()
               if e.type == "CreateAction" and e.id.startswith("#task-")}
    assert sorted(actions) == sorted(TASKS)
    for tid, a in actions.items():
        assert a["instrument"]["name"] == tid.split("[")[0]
        assert a["actionStatus"] == "http://schema.org/CompletedActionStatus"
        assert a["startTime"] <= a["endTime"] and a["location"]["name"]
    assert actions["train"]["instrument"]["mainEntity"].id.endswith("crate_stages.py")
    solve = actions["solve[0]"]
    assert solve["instrument"]["softwareRequirements"]["name"] == "solver"
    assert {(e["name"], e["value"]) for e in many(solve["environment"])} == {("LC_ALL", "C")}
    assert [e["value"] for e in many(solve["result"]) if e.type == "PropertyValue"] == [0]
    assert {e["name"]: e["value"] for e in many(solve["object"])
            if e.type == "PropertyValue"} == {"case": 0}

    # files: in the crate, with the SHA-256 the run recorded, equal to their content
    files = [e for e in c.get_entities() if e.type == "File" and e.id.startswith("tasks/")]
    assert len(files) >= 7
    for f in files:
        assert f["sha256"] == sha256(crate / unquote(f.id)), f.id

    # lineage: solver results -> table (dataset) -> model -> the runs that used the model
    def results(tid):
        return {e.id for e in many(actions[tid]["result"]) if e.type == "File"}

    def objects(tid):
        return {e.id for e in many(actions[tid]["object"]) if e.type == "File"}

    assert results("solve[0]") | results("solve[1]") <= objects("collect")
    assert results("collect") == objects("train") == {"tasks/collect/last.txt"}
    model = "tasks/train/model.json"
    assert results("train") == {model}
    assert model in objects("predict[0]") and model in objects("predict[1]")
    assert results("predict[0]") | results("predict[1]") == ids(run["result"])
    organize = c.get("#orch-run")
    assert organize["result"].id == "#workflow-run"
    steps = {e["instrument"]["name"] for e in many(organize["object"])}
    assert steps == {"mesh", "solve", "collect", "train", "predict"}


def test_the_validator_can_fail(runs, tmp_path):
    """The same validation, on a crate whose task action lost its instrument, fails."""
    crate = tmp_path / "crate"
    export(runs["ok"], crate)
    meta = crate / "ro-crate-metadata.json"
    doc = json.loads(meta.read_text())
    for e in doc["@graph"]:
        if e["@id"] == "#task-train":
            del e["instrument"]
    meta.write_text(json.dumps(doc))
    rc, report = rocrate_validate(crate, tmp_path)
    assert not report["passed"] and rc != 0
    assert any("instrument" in i for i in issues(report)), issues(report)


# ---- a run with a failed task ------------------------------------------------------------
def test_failed_run_exports_with_no_data(runs, tmp_path):
    crate = tmp_path / "crate"
    export(runs["failed"], crate, "--no-data")
    assert not (crate / "tasks").exists()
    rc, report = rocrate_validate(crate, tmp_path)
    assert report["passed"] and rc == 0, issues(report)

    c = read_crate(crate)
    run = c.get("#workflow-run")
    assert run["actionStatus"] == "http://schema.org/FailedActionStatus"
    assert "predict[1]" in run["error"]
    bad = c.get("#task-predict%5B1%5D")
    assert bad["actionStatus"] == "http://schema.org/FailedActionStatus"
    assert "refused on purpose" in bad["error"]
    assert any(unquote(e.id).endswith("/tasks/train/model.json")
               for e in many(bad["object"]) if e.type == "File")
    stderr = [e for e in c.get_entities() if e.type == "File" and e.get("about") is not None
              and e["about"].id == bad.id]
    assert [e["name"] for e in stderr] == ["stderr"]
    for f in (e for e in c.get_entities() if e.type == "File" and "/tasks/" in e.id):
        assert f.id.startswith("file:///") and "--no-data" in f["description"]
        if f.get("sha256"):
            assert f["sha256"] == sha256(Path(unquote(f.id[len("file://"):])))
    ok = c.get("#task-predict%5B0%5D")
    assert ok["actionStatus"] == "http://schema.org/CompletedActionStatus"


# ---- what the export refuses, and what it tolerates -------------------------------------
def test_bad_run_path_is_a_located_error(tmp_path):
    p = orch("export", str(tmp_path / "nope"), "--ro-crate", str(tmp_path / "c"))
    assert p.returncode == 1
    assert f"{tmp_path / 'nope'}: not a run directory" in p.stderr
    assert not (tmp_path / "c").exists()


def test_non_empty_dir_needs_force(runs, tmp_path):
    crate = tmp_path / "crate"
    crate.mkdir()
    (crate / "keep.txt").write_text("mine")
    p = orch("export", str(runs["ok"]), "--ro-crate", str(crate))
    assert p.returncode == 1
    assert f"--ro-crate {crate}: the folder is not empty (keep.txt)" in p.stderr
    assert "--force" in p.stderr and (crate / "keep.txt").is_file()
    export(runs["ok"], crate, "--force")
    assert not (crate / "keep.txt").exists()
    assert (crate / "ro-crate-metadata.json").is_file()
    assert sorted(n for n in os.listdir(tmp_path)) == ["crate"]
    empty = tmp_path / "empty"
    empty.mkdir()
    export(runs["ok"], empty)
    p = orch("export", str(runs["ok"]), "--ro-crate", str(runs["ok"].parent), "--force")
    assert p.returncode == 1 and "inside it" in p.stderr


def test_moved_workflow_and_changed_output(runs, tmp_path):
    """A run directory whose workflow file is gone and one of whose outputs changed since
    the run: the resolved spec stands in for the workflow, the changed file is referenced
    (not copied) with its recorded SHA-256."""
    run = tmp_path / "run"
    shutil.copytree(runs["ok"], run, ignore=shutil.ignore_patterns("parsl"))
    meta = json.loads((run / "run.json").read_text())
    meta["workflow"] = str(tmp_path / "gone" / "crate.yaml")
    (run / "run.json").write_text(json.dumps(meta))
    (run / "tasks" / "train" / "model.json").write_text("{}")
    crate = tmp_path / "crate"
    export(run, crate, "--include-data")
    c = read_crate(crate)
    assert c.mainEntity.id == "spec.json"
    assert "ComputationalWorkflow" in c.mainEntity.type
    model = next(e for e in c.get_entities() if e.id.endswith("tasks/train/model.json"))
    assert model.id.startswith("file:///") and "changed since the run" in model["description"]
    assert not (crate / "tasks" / "train" / "model.json").exists()
    assert (crate / "tasks" / "collect" / "last.txt").is_file()


def test_resumed_run_exports_cached_tasks(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["ok"], run, ignore=shutil.ignore_patterns("parsl"))
    p = orch("run", "--resume", str(run), "-q")
    assert p.returncode == 0, p.stderr
    crate = tmp_path / "crate"
    export(run, crate)
    c = read_crate(crate)
    train = c.get("#task-train")
    assert "cached" in train["description"]
    assert train["actionStatus"] == "http://schema.org/CompletedActionStatus"
    assert ids(train["result"]) >= {"tasks/train/model.json"}
    assert "attempt 2" in c.get("#orch-run")["description"]


def test_export_imports_no_parsl(runs, tmp_path):
    code = ("import sys\nfrom orchestrator.cli.app import main\n"
            f"rc = main(['export', {str(runs['ok'])!r}, '--ro-crate', {str(tmp_path / 'c')!r}])\n"
            "assert rc == 0, rc\nbad = [m for m in ('parsl', 'torch', 'dpctl') if m in sys.modules]\n"
            "assert not bad, bad\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=REPO)
    assert p.returncode == 0, p.stderr


def test_source_records_of_a_newer_orch(runs, tmp_path):
    """Fields a newer orch records about a source (template source, commit) are kept;
    none is required."""
    run = tmp_path / "run"
    shutil.copytree(runs["ok"], run, ignore=shutil.ignore_patterns("parsl"))
    spec = json.loads((run / "spec.json").read_text())
    for s in spec["sources"]:
        if s.get("template"):
            s.update({"source": "lab-templates", "commit": "0123abc",
                      "url": "https://git.example.org/lab/templates.git"})
            del s["version"]
    (run / "spec.json").write_text(json.dumps(spec))
    crate = tmp_path / "crate"
    export(run, crate)
    c = read_crate(crate)
    template = next(e for e in many(c.mainEntity["isBasedOn"]) if "executable-sweep" in e.id)
    assert "source: lab-templates; commit: 0123abc" in template["description"]
    assert template["url"] == "https://git.example.org/lab/templates.git"
    assert template.get("version") is None and template["sha256"]


def test_bad_max_copy_is_a_usage_error(runs, tmp_path):
    p = orch("export", str(runs["ok"]), "--ro-crate", str(tmp_path / "c"), "--max-copy", "lots")
    assert p.returncode == 2 and "--max-copy" in p.stderr
