"""Browser tests: the HTML report in a real headless Chromium (Debian's chromium and
chromium-driver, driven by selenium with /usr/bin/chromedriver: nothing is downloaded).

`scripts/install-browser.sh` installs them. When one is missing the tests are skipped,
except with CI=true, where they fail: CI must run them for real.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from orchestrator.state.journal import Journal

CHROMIUM = os.environ.get("ORCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ORCH_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1000")
T0 = 1_700_000_000.0


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: needs headless chromium, chromedriver and selenium "
                   "(scripts/install-browser.sh)")


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is missing (apt-get install {package}; scripts/install-browser.sh)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium; scripts/install-browser.sh)"
    return None


def require_browser() -> None:
    problem = browser_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{problem} (CI=true: browser tests must run, not skip)", pytrace=False)
    pytest.skip(problem)


@pytest.fixture
def browser():
    """A headless Chromium that records the console (goog:loggingPrefs)."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="orch-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# ---------------------------------------------------------------- a run to render


def _res(device: str = "cpu", gpus: int = 0) -> dict:
    return {"device": device, "cores": 1, "gpus": gpus, "xpus": 0, "ranks": 1, "nodes": 1,
            "memory": None, "walltime": "00:10:00", "estimated_walltime": "00:10:00"}


def _stage(name, tasks, needs=(), loop=None, device="cpu", gpus=0, share=0.25, seed=None):
    return {"name": name, "kind": "python", "target": f"demo:{name}", "needs": list(needs),
            "tasks": tasks, "pool": device, "device": device, "slots_per_node": round(1 / share),
            "resources": _res(device, gpus), "loop": loop, "sampler": "lhs" if seed else None,
            "seed": seed, "node_hours": tasks * share / 6, "gpu_hours": tasks * gpus / 6,
            "xpu_hours": 0.0}


def make_demo_run(path: Path) -> tuple[Path, list[str]]:
    """A run with a 24-task sweep on 4 workers, a 3-task check of which one failed, a
    3-iteration loop and a fan-in; returns the run directory and the ids of the tasks
    that ran."""
    stages = [_stage("sample", 1, seed=42), _stage("simulate", 24, ["sample"]),
              _stage("check", 3, ["sample"]),
              _stage("train", 2, ["simulate"], "al", "gpu", 1, 0.5),
              _stage("select", 1, ["train"], "al"), _stage("summary", 1, ["select"])]
    tasks = [{"id": f"{s['name']}[{i}]" if s["tasks"] > 1 else s["name"], "stage": s["name"],
              "loop": s["loop"]} for s in stages for i in range(s["tasks"])]
    plan = {"format": 1, "workflow": "demo", "site": "laptop", "params": {"n": 24},
            "stages": stages, "tasks": tasks,
            "loops": [{"name": "al", "stages": ["train", "select"], "max_iterations": 5,
                       "until": {"stage": "select", "metric": "max_dev", "op": "<",
                                 "value": 0.05, "reduce": "max"},
                       "feedback": [{"from": "select", "to": "train"}]}]}
    path.mkdir(parents=True)
    (path / "plan.json").write_text(json.dumps(plan))
    (path / "spec.json").write_text(json.dumps({"workflow": {"name": "demo"}, "params": {"n": 24},
                                                "sources": [{"path": "demo.yaml",
                                                             "sha256": "0" * 64}]}))
    (path / "run.json").write_text(json.dumps({"workflow": "demo.yaml", "site": "laptop",
                                               "attempts": [{"started": T0, "pid": 1,
                                                             "argv": ["run", "demo.yaml"]}]}))
    stderr = path / "tasks" / "check[1]" / "stderr"
    stderr.parent.mkdir(parents=True)
    stderr.write_text("Traceback (most recent call last):\n  ...\n"
                      "RuntimeError: solver diverged <at step 12>\n")
    ran: list[str] = []

    def done(j, tid, result, start, seconds, pid, **kw):
        j.append("task_done", task=tid, stage=tid.split("[")[0].split("@")[0], key=f"k{tid}",
                 result=result, started=start, ended=start + seconds, host="node1", pid=pid,
                 devices={}, attempts=1, **kw)
        ran.append(tid)

    with Journal(path / "journal.jsonl", fsync=False) as j:
        j.append("run_started", workflow="demo", site="laptop", attempt=1, pid=2**22 + 1,
                 resume=False, tasks=len(tasks))
        done(j, "sample", {"n": 24}, T0, 1.5, 100)
        free = [T0 + 1.6] * 4
        for i in range(24):
            w = i % 4
            seconds = 2.0 + (i * 37 % 11) / 5
            done(j, f"simulate[{i}]", {"residual": 1e-6 * (1 + i % 5), "iterations":
                                       80 + i * 3}, free[w], seconds, 101 + w, index=i)
            free[w] += seconds + 0.05
        for i, w in enumerate((1, 2, 3)):
            if i == 1:
                j.append("task_failed", task="check[1]", stage="check", key="kc1",
                         error="RuntimeError: solver diverged <at step 12>", attempts=2,
                         ended=free[w] + 1.0, stdout=None, stderr=str(stderr))
                ran.append("check[1]")
            else:
                done(j, f"check[{i}]", {"ok": 1}, free[w], 1.0, 101 + w, index=i)
            free[w] += 1.05
        t = max(free)
        for k, dev in enumerate([0.4, 0.12, 0.03], start=1):
            for i in range(2):
                done(j, f"train[{i}]@{k}", {"loss": [dev * 3 / (e + 1) for e in range(20)],
                                            "val_loss": dev * 2}, t, 3.0, 101 + i, index=i,
                     iteration=k, loop="al")
            done(j, f"select@{k}", {"max_dev": dev, "candidates": 40 - 10 * k}, t + 3.1, 0.6,
                 101, iteration=k, loop="al")
            j.append("loop_iteration", loop="al", iteration=k, stage="select", metric="max_dev",
                     reduce="max", value=dev, op="<", threshold=0.05, met=dev < 0.05)
            t += 3.8
        j.append("loop_finished", loop="al", iterations=3, reason="condition")
        done(j, "summary", {"best": 0.03}, t, 0.8, 102)
        j.append("run_finished", state="failed", seconds=t + 1 - T0)
    return path, ran


def make_wide_run(path: Path, layers: int = 9, fan: int = 9) -> Path:
    """A finished run whose stage graph is long and wide: a chain of `layers` stages with a
    fan of `fan` long-named stages after its second (the shape that overflowed the page)."""
    chain = [f"stage_{k}_of_a_long_chain" for k in range(layers)]
    fanned = [f"postprocess_member_{i:02d}_with_a_long_name" for i in range(fan)]
    stages = [_stage(chain[0], 1), _stage(chain[1], 1, [chain[0]])]
    stages += [_stage(n, 1, [chain[1]]) for n in fanned]
    stages += [_stage(chain[2], 1, fanned)]
    stages += [_stage(chain[k], 1, [chain[k - 1]]) for k in range(3, layers)]
    tasks = [{"id": s["name"], "stage": s["name"], "loop": None} for s in stages]
    plan = {"format": 1, "workflow": "wide", "site": "laptop", "params": {}, "stages": stages,
            "tasks": tasks, "loops": []}
    path.mkdir(parents=True)
    (path / "plan.json").write_text(json.dumps(plan))
    (path / "spec.json").write_text(json.dumps({"workflow": {"name": "wide"}, "params": {}}))
    (path / "run.json").write_text(json.dumps({"workflow": "wide.yaml", "site": "laptop",
                                               "attempts": [{"started": T0, "pid": 1,
                                                             "argv": ["run", "wide.yaml"]}]}))
    with Journal(path / "journal.jsonl", fsync=False) as j:
        j.append("run_started", workflow="wide", site="laptop", attempt=1, pid=2**22 + 1,
                 resume=False, tasks=len(tasks))
        for k, s in enumerate(stages):
            j.append("task_done", task=s["name"], stage=s["name"], key=f"k{k}",
                     result={"value": float(k)}, started=T0 + k, ended=T0 + k + 0.9,
                     host="node1", pid=100 + k % 4, devices={}, attempts=1)
        j.append("run_finished", state="succeeded", seconds=len(stages) + 1.0)
    return path
