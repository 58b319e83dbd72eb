"""`orch report`: HTML reports rendered from synthetic run directories.

Journals are written with the real `Journal`; plan.json, spec.json and run.json by
hand in the shapes `orch run` writes. The HTML is parsed with html.parser to check
its structure. Nothing here needs Parsl or a browser (tests/browser does the rest).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import assert_clean_failure, cli_env, orch

from orchestrator.report.html import render_report, write_report
from orchestrator.report.lanes import Bar, merge_bars, timeline_lanes
from orchestrator.report.metrics import stage_metrics
from orchestrator.report.stage_graph import Edge, dag_layers
from orchestrator.report.svg import chart, time_ticks
from orchestrator.report.task_extras import fill_pids_from_results, journal_extras
from orchestrator.report.usage import stage_usage
from orchestrator.state.history import earlier_runs, stage_history
from orchestrator.state.journal import Journal
from orchestrator.state.status import load_status

T0 = 1_700_000_000.0
DEAD_PID = 2**22 + 1
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


# ---------------------------------------------------------------- builders


def _res(device: str = "cpu", gpus: int = 0, walltime: str = "00:30:00") -> dict:
    return {"device": device, "cores": 1, "gpus": gpus, "xpus": 0, "ranks": 1, "nodes": 1,
            "memory": None, "walltime": walltime, "estimated_walltime": walltime}


def plan_doc(stages: list[dict], loops: list[dict] | None = None, params=None) -> dict:
    """stages: {name, tasks, needs?, loop?, device?, gpus?, share?, seed?}; 30-minute tasks."""
    out, tasks = [], []
    for s in stages:
        n, share = s["tasks"], s.get("share", 0.25)
        gpus = s.get("gpus", 0)
        out.append({"name": s["name"], "kind": "python", "target": f"m:{s['name']}",
                    "needs": s.get("needs", []), "tasks": n, "pool": s.get("device", "cpu"),
                    "device": s.get("device", "cpu"), "slots_per_node": round(1 / share),
                    "resources": _res(s.get("device", "cpu"), gpus), "loop": s.get("loop"),
                    "sampler": "lhs" if s.get("seed") is not None else None,
                    "seed": s.get("seed"), "node_hours": n * 0.5 * share,
                    "gpu_hours": n * 0.5 * gpus, "xpu_hours": 0.0})
        ids = [s["name"]] if n == 1 else [f"{s['name']}[{i}]" for i in range(n)]
        tasks += [{"id": i, "stage": s["name"], "needs": [], "loop": s.get("loop")} for i in ids]
    return {"format": 1, "workflow": "wf", "site": "laptop", "scheduler": "local",
            "params": params or {"n": len(tasks)}, "stages": out, "loops": loops or [],
            "tasks": tasks, "summary": {"tasks": len(tasks), "stages": len(out)}}


def make_run(path: Path, events: list[tuple[str, dict]], plan: dict) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "tasks").mkdir(exist_ok=True)
    (path / "run.json").write_text(json.dumps(
        {"workflow": "/w/wf.yaml", "site": "/s/laptop.yaml", "sets": {"n": "3"}, "created": T0,
         "attempts": [{"started": T0, "pid": DEAD_PID, "argv": ["run", "wf.yaml"]}]}))
    (path / "plan.json").write_text(json.dumps(plan))
    (path / "spec.json").write_text(json.dumps(
        {"workflow": {"apiVersion": "orchestrator/v1", "name": "wf", "description": HOSTILE},
         "params": plan["params"],
         "sources": [{"path": "wf.yaml", "sha256": "ab" * 32},
                     {"path": "templates/solver-sweep.yaml", "sha256": "cd" * 32}]}))
    with Journal(path / "journal.jsonl", fsync=False) as j:
        j.append("run_started", workflow="wf", site="laptop", attempt=1, pid=DEAD_PID,
                 resume=False, tasks=len(plan["tasks"]))
        for ev, fields in events:
            j.append(ev, **fields)
    return path


def done(tid: str, result, start: float, seconds: float = 2.0, pid: int | None = 11,
         host: str = "node1", devices: dict | None = None, **kw) -> tuple[str, dict]:
    stage = tid.split("[")[0].split("@")[0]
    return ("task_done", {"task": tid, "stage": stage, "key": f"key-{tid}", "result": result,
                          "started": start, "ended": start + seconds, "host": host, "pid": pid,
                          "devices": devices or {}, "attempts": 1, **kw})


def finished(state: str) -> tuple[str, dict]:
    return ("run_finished", {"state": state, "seconds": 12.5})


@pytest.fixture
def ok_run(tmp_path) -> Path:
    events = [done(f"work[{i}]", {"square": i * i, "i": i, "loss": [1.0 / (e + 1) for e in
                                                                    range(5)]},
                   T0 + (i // 2) * 2.0, pid=11 + i % 2, index=i) for i in range(6)]
    events += [done("gather", {"sum": 55, "count": 6}, T0 + 6.5, seconds=0.5),
               finished("succeeded")]
    plan = plan_doc([{"name": "work", "tasks": 6, "seed": 1234},
                     {"name": "gather", "tasks": 1, "needs": ["work"]}])
    return make_run(tmp_path / "ok", events, plan)


@pytest.fixture
def failed_run(tmp_path) -> Path:
    run = tmp_path / "failed"
    stderr = run / "tasks" / "work[3]" / "stderr"
    stderr.parent.mkdir(parents=True)
    stderr.write_text("".join(f"line {k}\n" for k in range(30)) + HOSTILE + "\n")
    events = [done(f"work[{i}]", {"x": float(i) + 0.5}, T0 + i, host='n"><b>1', index=i)
              for i in range(3)]
    events += [("task_failed", {"task": "work[3]", "stage": "work", "key": "key-w3",
                                "error": f"ValueError: {HOSTILE}", "attempts": 3,
                                "ended": T0 + 5, "stdout": None, "stderr": str(stderr)}),
               ("task_dep_failed", {"task": "gather", "stage": "gather", "key": "key-g",
                                    "error": "a task it needs failed (1 upstream)",
                                    "attempts": None, "ended": T0 + 5}),
               finished("failed")]
    plan = plan_doc([{"name": "work", "tasks": 4}, {"name": "gather", "tasks": 1,
                                                    "needs": ["work"]}])
    return make_run(run, events, plan)


@pytest.fixture
def loop_run(tmp_path) -> Path:
    events = [done("prep", {"n": 2}, T0, seconds=1.0)]
    t = T0 + 1
    for k, err in enumerate([0.5, 0.2, 0.05], start=1):
        events += [done(f"train[{i}]@{k}", {"loss": err * (1 + i), "iteration": k}, t,
                        pid=11 + i, index=i, iteration=k, loop="al") for i in range(2)]
        events += [done(f"select@{k}", {"err": err}, t + 2, seconds=0.5, iteration=k, loop="al"),
                   ("loop_iteration", {"loop": "al", "iteration": k, "stage": "select",
                                       "metric": "err", "reduce": "max", "value": err, "op": "<",
                                       "threshold": 0.1, "met": err < 0.1})]
        t += 3
    events += [("loop_finished", {"loop": "al", "iterations": 3, "reason": "condition"}),
               done("final", {"best": 0.05}, t, seconds=0.5), finished("succeeded")]
    plan = plan_doc([{"name": "prep", "tasks": 1},
                     {"name": "train", "tasks": 2, "needs": ["prep"], "loop": "al",
                      "device": "gpu", "gpus": 1, "share": 0.5},
                     {"name": "select", "tasks": 1, "needs": ["train"], "loop": "al"},
                     {"name": "final", "tasks": 1, "needs": ["select"]}],
                    loops=[{"name": "al", "stages": ["train", "select"], "max_iterations": 5,
                            "until": {"stage": "select", "metric": "err", "op": "<",
                                      "value": 0.1, "reduce": "max"},
                            "feedback": [{"from": "select", "to": "train"}]}])
    return make_run(tmp_path / "loop", events, plan)


class Doc(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.tags
                if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def classed(self, tag: str, cls: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag and cls in (a.get("class") or "").split()]

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def bars(doc: Doc) -> list[str]:
    return [a["data-task"] for a in doc.classed("rect", "bar")]


SECTIONS = ["summary", "timeline", "dag", "metrics", "failures", "provenance"]


# ---------------------------------------------------------------- the page


def test_succeeded_run(ok_run):
    html = render_report(ok_run)
    doc = Doc(html)
    assert [a["id"] for a in doc.find("section")] == SECTIONS
    assert sorted(bars(doc)) == sorted([f"work[{i}]" for i in range(6)] + ["gather"])
    assert len(doc.find("svg", id="timeline-svg")) == 1
    nodes = {a["data-stage"]: a["data-state"] for a in doc.classed("g", "node")}
    assert nodes == {"work": "done", "gather": "done"}
    charts = [a["aria-label"] for a in doc.classed("svg", "chart")]
    assert "work.square" in charts and "work.loss" in charts
    assert "work.i" not in charts  # the sweep index echoed back is not plotted
    text = doc.all_text
    assert "wf on laptop: succeeded" in text and "No task failed." in text
    assert "sum" in text and "55" in text  # the single gather task's values, as a table
    assert "1234" in text and "lhs" in text  # the seed of the sampled stage
    assert "ab" * 32 in text and "templates/solver-sweep.yaml" in text  # sources
    assert "key-work[0]" in text  # code hashes (task keys)
    assert "each task receives all 6 result(s)" in text  # lineage
    assert "pydantic" in text and "importlib.metadata" in text
    assert "node1 · pid 11" in text and "node1 · pid 12" in text  # lanes by worker


def test_run_with_failures_is_escaped(failed_run):
    html = render_report(failed_run)
    doc = Doc(html)
    assert [a["id"] for a in doc.find("section")] == SECTIONS
    tags = {t for t, _ in doc.tags}
    assert "script" not in tags and "img" not in tags and "b" not in tags
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    failure = doc.classed("div", "failure")
    assert [a["data-task"] for a in failure] == ["work[3]"]
    text = doc.all_text
    assert f"ValueError: {HOSTILE}" in text  # the error, intact as text
    assert "after 3 attempts" in text
    assert "line 29" in text and "line 11\n" in text and "line 10\n" not in text  # last 20
    assert "Not run because a task they need failed: gather" in text
    assert sorted(bars(doc)) == ["work[0]", "work[1]", "work[2]", "work[3]"]  # + failure mark
    assert doc.classed("rect", "failed")[0]["data-task"] == "work[3]"
    nodes = {a["data-stage"]: a["data-state"] for a in doc.classed("g", "node")}
    assert nodes == {"work": "failed", "gather": "failed"}
    assert 'n"><b>1' in text  # a hostile host name, shown as text


def test_run_with_loops(loop_run):
    doc = Doc(render_report(loop_run))
    assert [a["id"] for a in doc.find("section")] == SECTIONS
    ids = [f"train[{i}]@{k}" for k in (1, 2, 3) for i in (0, 1)]
    ids += [f"select@{k}" for k in (1, 2, 3)] + ["prep", "final"]
    assert sorted(bars(doc)) == sorted(ids)
    charts = [a["aria-label"] for a in doc.classed("svg", "chart")]
    assert "loop al: select.err" in charts and "train.loss" in charts
    text = doc.all_text
    assert "until < 0.1" in text  # the threshold line of the loop chart
    assert "loop al: 3 iterations (condition)" in text  # the loop frame in the DAG
    assert "3 iteration(s), condition met" in text
    assert "feedback: results of iteration k go to iteration k+1" in text
    nodes = {a["data-stage"]: a["data-state"] for a in doc.classed("g", "node")}
    assert nodes == dict.fromkeys(["prep", "train", "select", "final"], "done")


@pytest.mark.parametrize("fixture", ["ok_run", "failed_run", "loop_run"])
def test_self_contained(fixture, request):
    html = render_report(request.getfixturevalue(fixture))
    low = html.lower()
    for needle in ('src="http', "src='http", 'href="http', "href='http", "url(http", "@import",
                   "<script", 'src="//', 'href="//'):
        assert needle not in low, needle
    assert "content-security-policy" in low and "default-src 'none'" in html
    doc = Doc(html)
    hrefs = [a.get("href") for _, a in doc.tags if a.get("href")]
    # links go to the page's own anchors, or (Task durations' sample) to a task's directory
    # in the run directory beside report.html: navigation, nothing loaded
    assert all(h.startswith("#") or h == "data:," or h.startswith("tasks/") for h in hrefs), \
        hrefs
    assert not [a for _, a in doc.tags if a.get("src")]


def test_resources_used_per_stage(loop_run):
    st = load_status(loop_run)
    plan = json.loads((loop_run / "plan.json").read_text())
    usage = {u.name: u for u in stage_usage(plan, st)}
    train = usage["train"]
    # 6 tasks x 2 s, each holding half a node and one GPU
    assert train.timed == 6 and train.busy_seconds == pytest.approx(12.0)
    assert train.node_hours == pytest.approx(12 / 3600 * 0.5)
    assert train.gpu_hours == pytest.approx(12 / 3600 * 1)
    # planned: 2 tasks x 0.5 h x share 0.5, times max_iterations 5
    assert train.planned_node_hours == pytest.approx(2 * 0.5 * 0.5 * 5)
    assert train.planned_gpu_hours == pytest.approx(2 * 0.5 * 1 * 5)
    prep = usage["prep"]
    assert prep.node_hours == pytest.approx(1 / 3600 * 0.25) and prep.gpu_hours == 0
    assert prep.planned_node_hours == pytest.approx(0.5 * 0.25)


def test_expected_from_earlier_runs_beside_the_run(tmp_path):
    """planned, expected (earlier runs in the same run root, not this one) and used."""
    plan = plan_doc([{"name": "work", "tasks": 4}, {"name": "gather", "tasks": 1}])
    root = tmp_path / "runs"
    earlier = make_run(root / "wf-1", [done(f"work[{i}]", i, T0, seconds=3.0 * (i + 1),
                                            index=i) for i in range(2)]
                       + [finished("succeeded")], plan)
    os.utime(earlier / "run.json", (T0, T0))
    this = make_run(root / "wf-2", [done(f"work[{i}]", i, T0, seconds=1.0, index=i)
                                    for i in range(4)] + [finished("succeeded")], plan)
    html = render_report(this)
    st = load_status(this)
    history = stage_history(earlier_runs(root, "wf", exclude=this))
    usage = {u.name: u for u in stage_usage(plan, st, history)}
    work = usage["work"]
    # 4 planned tasks x the earlier mean (3 s and 6 s: 4.5 s) x share 0.25
    assert work.expected_node_hours == pytest.approx(4 * 4.5 / 3600 * 0.25)
    assert work.expected_runs == 1
    assert work.node_hours == pytest.approx(4 * 1.0 / 3600 * 0.25)
    assert work.planned_node_hours == pytest.approx(4 * 0.5 * 0.25)
    assert usage["gather"].expected_node_hours is None  # never ran before
    text = Doc(html).all_text
    assert "node-h used / expected / planned" in text
    assert f"{work.node_hours:.3g} / {work.expected_node_hours:.3g} / 0.5" in text
    assert "from 1 earlier run of wf in" in text
    alone = make_run(tmp_path / "alone" / "wf-1", [finished("succeeded")], plan)
    assert "none: no earlier run of wf in" in Doc(render_report(alone)).all_text


def test_lanes_by_pid_device_or_packing(tmp_path):
    events = [done("a[0]", 1, T0, pid=None, devices={"CUDA_VISIBLE_DEVICES": "0"}, index=0),
              done("a[1]", 1, T0 + 1, pid=None, devices={"CUDA_VISIBLE_DEVICES": "1"}, index=1),
              done("b[0]", 1, T0, pid=None, host="cpu1", index=0),
              done("b[1]", 1, T0 + 1, pid=None, host="cpu1", index=1),   # overlaps b[0]
              done("b[2]", 1, T0 + 2.5, pid=None, host="cpu1", index=2),  # after b[0]
              finished("succeeded")]
    run = make_run(tmp_path / "r", events, plan_doc([{"name": "a", "tasks": 2},
                                                     {"name": "b", "tasks": 3}]))
    lanes = timeline_lanes(load_status(run), journal_extras(run / "journal.jsonl"))
    assert {lane.name: [b.task for b in lane.bars] for lane in lanes} == {
        "cpu1 · slot 1": ["b[0]", "b[2]"], "cpu1 · slot 2": ["b[1]"],
        "node1 · CUDA_VISIBLE_DEVICES=0": ["a[0]"], "node1 · CUDA_VISIBLE_DEVICES=1": ["a[1]"]}


def test_pids_from_result_files_when_the_journal_has_none(tmp_path):
    run = make_run(tmp_path / "r", [done("a", 1, T0, pid=None), finished("succeeded")],
                   plan_doc([{"name": "a", "tasks": 1}]))
    (run / "results").mkdir()
    (run / "results" / "node1-4242.jsonl").write_text(
        json.dumps({"task": "a", "pid": 4242, "key": "k"}) + "\n" + '{"task": "a", "pid')  # torn
    st = load_status(run)
    extras = journal_extras(run / "journal.jsonl")
    fill_pids_from_results(run, st.tasks, extras)
    assert [lane.name for lane in timeline_lanes(st, extras)] == ["node1 · pid 4242"]


def test_stage_metrics_shapes():
    from orchestrator.state.states import TaskState
    from orchestrator.state.status_model import TaskStatus

    def task(tid, result, iteration=None, loop=None):
        return TaskStatus(tid, tid.split("[")[0].split("@")[0], TaskState.DONE, result=result,
                          iteration=iteration, loop=loop)

    m = stage_metrics("s", [task(f"s[{i}]", {"i": i, "c": 3, "y": {"z": i * 2.5},
                                             "ok": True, "name": "x"}) for i in range(4)])
    assert m.kind == "sweep" and list(m.points) == ["y.z"] and m.constants == {"c": 3.0}
    assert m.points["y.z"][2] == (2.0, 5.0, "s[2]")
    loop = stage_metrics("t", [task(f"t@{k}", {"loss": 1 / k}, k, "al") for k in (1, 2)])
    assert loop.kind == "loop" and [p[0] for p in loop.points["loss"]] == [1.0, 2.0]
    assert stage_metrics("u", [task("u", "text")]) is None


def test_dag_layers():
    edges = [Edge("a", "c"), Edge("b", "c"), Edge("c", "d"), Edge("a", "d"),
             Edge("d", "c", feedback=True)]
    assert dag_layers(["a", "b", "c", "d"], edges) == [["a", "b"], ["c"], ["d"]]


def test_charts_and_ticks():
    svg = chart("t", "x", "y", lines=[("l", [(0, 1e-4), (1, 1e-3), (2, 1)], "#000")],
                hline=(0.1, "until < 0.1"))
    assert "log y" in svg and "until &lt; 0.1" in svg
    assert chart("t", "x", "y") == ""  # nothing to draw
    labels = [label for _, label in time_ticks(3600.0, 1000)]
    assert labels[0] == "0" and labels[-1] == "1h00"
    assert [label for _, label in time_ticks(0.5, 1000)][:3] == ["0", "0.1s", "0.2s"]


def test_merge_bars():
    bs = [Bar(f"t{i}", "s", i * 1.0, i + 0.99, "done") for i in range(5)]
    bs.append(Bar("u", "other", 5.0, 6.0, "done"))
    merged = merge_bars(bs, resolution=0.5)
    assert [(b.task, b.count, b.start, b.end) for b in merged] == [("t0", 5, 0.0, 4.99),
                                                                  ("u", 1, 5.0, 6.0)]


# ---------------------------------------------------------------- scale


def _big_run(path: Path, n: int, workers: int = 32) -> Path:
    events, free = [], [T0] * workers
    for i in range(n):
        w = i % workers
        start, free[w] = free[w], free[w] + 1.0 + (i % 7) * 0.1
        events.append(done(f"work[{i}]", {"loss": 1 / (i + 1), "acc": (i * 7919 % 1000) / 1e3},
                           start, seconds=1.0 + (i % 7) * 0.1, pid=1000 + w,
                           host=f"node{w // 8}", index=i))
    events.append(finished("succeeded"))
    return make_run(path, events, plan_doc([{"name": "work", "tasks": n}]))


def test_thousand_task_report_is_modest(tmp_path, capsys):
    run = _big_run(tmp_path / "big", 1000)
    path, size = write_report(run)
    assert path == run / "report.html" and path.stat().st_size == size
    with capsys.disabled():
        print(f"\n1,000-task report: {size:,} bytes")
    assert size < 600_000  # well under the ~2 MB budget
    assert len(bars(Doc(path.read_text()))) == 1000


@pytest.mark.slow
def test_hundred_thousand_task_journal_renders(tmp_path, capsys):
    run = _big_run(tmp_path / "huge", 100_000, workers=256)
    started = time.perf_counter()
    html = render_report(run)
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n100,000-task report: {len(html.encode()):,} bytes in {seconds:.1f}s")
    assert len(html.encode()) < 2_000_000
    doc = Doc(html)
    assert "200 are" in doc.all_text  # lanes capped, with a note
    assert "bars of one stage closer than a pixel are merged" in doc.all_text
    assert len(bars(doc)) <= 5000


# ---------------------------------------------------------------- the command


def test_cli_report(ok_run, tmp_path):
    res = orch("report", ok_run)
    assert res.rc == 0, res.stderr
    assert (ok_run / "report.html").is_file() and "report: " in res.stdout
    out = tmp_path / "elsewhere.html"
    res = orch("report", ok_run, "-o", out, "--format", "json")
    assert res.rc == 0 and res.json()["report"] == str(out) and out.stat().st_size > 1000
    assert res.json()["bytes"] == out.stat().st_size
    target = tmp_path / "dir"
    target.mkdir()
    assert orch("report", ok_run, "-o", target).rc == 0 and (target / "report.html").is_file()


def test_cli_report_failed_run_exits_zero(failed_run):
    assert orch("report", failed_run).rc == 0  # a report describes; it does not fail


def test_cli_not_a_run_directory(tmp_path):
    res = orch("report", tmp_path / "nope")
    assert_clean_failure(res, 1)
    assert "not a run directory" in res.stderr
    assert orch("report", tmp_path / "nope", "--format", "json").json()["ok"] is False


def test_report_never_imports_parsl(failed_run, tmp_path):
    code = ("import sys\nfrom orchestrator.cli.app import main\n"
            f"assert main(['report', {str(failed_run)!r}, '-o', {str(tmp_path / 'r.html')!r}])"
            " == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'parsl'"
            " or m.startswith('orchestrator.backends')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=cli_env(tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_template_versions_and_changes_on_resume(tmp_path):
    """Sources with their template name and version, and a resume that found one changed
    (the `sources_changed` journal record of `orch run --resume`)."""
    run = make_run(tmp_path / "r", [
        done("a", 1, T0),
        ("sources_changed", {"sources": [{"path": "lib/solver-sweep.yaml",
                                          "template": "solver-sweep", "old_version": "1.0",
                                          "version": "1.1", "old_sha256": "11" * 32,
                                          "sha256": "22" * 32}]}),
        finished("succeeded")], plan_doc([{"name": "a", "tasks": 1}]))
    spec = json.loads((run / "spec.json").read_text())
    spec["sources"][1].update(template="solver-sweep", version="1.1")
    (run / "spec.json").write_text(json.dumps(spec))
    text = Doc(render_report(run)).all_text
    assert "solver-sweep1.1" in text.replace(" ", "")  # template and version columns
    assert "Changed when the run was resumed" in text
    assert "1.0 → 1.1" in text and "111111111111 → 222222222222" in text
