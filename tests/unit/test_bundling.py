"""Bundle option: spec validation, plan display and the auto size (bundling.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from orchestrator.backends.bundling import AUTO_TARGET_S, MAX_AUTO, auto_size

SPEC = """\
apiVersion: orchestrator/v1
name: b
stages:
  a:
    python: m:f
    args: {{i: "${{sweep.i}}"}}
    sweep: {{values: {{i: {{start: 0, stop: 100, step: 1}}}}}}
{extra}
"""


def _orch(tmp: Path, extra: str, *args: str) -> subprocess.CompletedProcess:
    (tmp / "wf.yaml").write_text(SPEC.format(extra=extra))
    return subprocess.run([sys.executable, "-m", "orchestrator", *args, str(tmp / "wf.yaml")],
                          capture_output=True, text=True, cwd=tmp)


def test_auto_size_fills_the_target_time_but_keeps_every_slot_busy():
    assert auto_size([0.001] * 4, 100_000, 2) == int(AUTO_TARGET_S / 0.001)
    assert auto_size([0.001] * 4, 80, 2) == 10  # 4 bundles per slot at least
    assert auto_size([5.0], 1000, 2) == 1  # long points run alone
    assert auto_size([], 1000, 2) == 1  # nothing measured (the probes failed)
    assert auto_size([0.0], 10**9, 1) == MAX_AUTO


def test_plan_shows_and_exports_the_bundle(tmp_path):
    text = _orch(tmp_path, "    bundle: 16", "plan")
    assert text.returncode == 0, text.stderr
    assert "bundle a: 16 points per Parsl task (7 Parsl tasks for 100 tasks)" in text.stdout
    js = _orch(tmp_path, "    bundle: auto", "plan", "--format", "json")
    assert js.returncode == 0, js.stderr
    assert json.loads(js.stdout)["stages"][0]["bundle"] == "auto"


def test_bad_bundles_are_located_errors(tmp_path):
    for extra, message in [
        ("    bundle: 0", "bundle must be a number of points from 1 to 100,000, or 'auto'"),
        ("    bundle: many", "expected 'auto', got 'many'"),
        ("    bundle: 4\n    resources: {device: gpu}", "cannot be bundled"),
        ("    bundle: 4\n    resources: {ranks: 2}", "cannot be bundled"),
    ]:
        p = _orch(tmp_path, extra, "validate")
        assert p.returncode == 1, (extra, p.stdout, p.stderr)
        assert "wf.yaml:" in p.stderr and message in p.stderr, (extra, p.stderr)
        assert "Traceback" not in p.stderr


def _auto_stage(n: int):
    from types import SimpleNamespace

    binding = SimpleNamespace(slots_per_node=2, pool_nodes=1)
    return SimpleNamespace(bundle="auto", tasks=list(range(n)), binding=binding)


def test_an_auto_stage_closed_while_its_probe_is_measured_launches_every_point():
    """The probe's completion sizes the held points while the driver closes the stage: the
    points left over from whole bundles must still be launched (they were once kept for a
    close that had already happened, and the run waited for them forever)."""
    from orchestrator.backends.bundling import Bundler, Point

    launched: list[list[int]] = []
    state = {"filler": None, "closed_inside": False}

    def launch(stage, payload, handles, bundle):
        launched.append([p["index"] for p in payload["points"]])
        if len(launched) == 3 and not state["closed_inside"]:  # the first sized bundle
            state["closed_inside"] = True
            state["filler"].close()  # the driver closes the stage right now

    bundler = Bundler(launch, "/nowhere")
    stage = _auto_stage(100)
    filler = state["filler"] = bundler.open(stage, shared=False)
    points = [Point({"task_id": f"a[{i}]", "index": i, "placement": None}, {}, [])
              for i in range(100)]
    for p in points:
        filler.add(p)
    assert len(launched) == 2  # the two probes; the rest waits for a probe's measure
    probe = type("B", (), {"group": filler.group})()
    bundler.measured(probe, [0.001] * 4)
    assert state["closed_inside"]
    flat = sorted(i for chunk in launched for i in chunk)
    assert flat == list(range(100))
