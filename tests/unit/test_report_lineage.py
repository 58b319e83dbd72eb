"""`orch report`: file lineage per loop iteration, and figures embedded from task outputs.

Run directories are built as in test_report_html.py (journal with the real `Journal`,
plan.json by hand), plus what workers leave: output files under `tasks/<task>/` and their
records (`files`: sha256, size, mtime) in `results/<host>-<pid>.jsonl`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report_html import T0, Doc, done, finished, make_run, plan_doc

from orchestrator.report import figures as fg
from orchestrator.report import lineage as ln
from orchestrator.report.html import render_report
from orchestrator.state.rundir import task_dirname


def png(tag: bytes = b"") -> bytes:
    """A valid 1x1 PNG; `tag` (a tEXt chunk) makes each one's bytes distinct."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))
    ihdr = (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    text = chunk(b"tEXt", b"Comment\0" + tag) if tag else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + text
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert("svg")</script><rect width="10" height="10"/></svg>')
HOSTILE_NAME = 'a"><b>x.svg'


class Runner:
    """Writes task outputs and the workers' records of them."""

    def __init__(self, run: Path):
        self.run, self.records = run, []

    def task(self, tid: str, files: dict[str, bytes], result=None, link: dict | None = None,
             inputs: dict[str, str] | None = None):
        folder = self.run / "tasks" / task_dirname(tid)
        folder.mkdir(parents=True, exist_ok=True)
        record = {}
        for rel, data in files.items():
            path = folder / rel
            path.write_bytes(data)
            record[rel] = [hashlib.sha256(data).hexdigest(), len(data), path.stat().st_mtime_ns]
        for rel, target in (link or {}).items():  # a link planted after the task ended
            (folder / rel).symlink_to(target)
            data = target.read_bytes()
            record[rel] = [hashlib.sha256(data).hexdigest(), len(data), 0]
        self.records.append({"task": tid, "key": f"key-{tid}", "result": result or {},
                             "started": T0, "ended": T0 + 1, "host": "node1", "pid": 11,
                             "files": record, **({"inputs": inputs} if inputs else {})})
        return record

    def save(self):
        (self.run / "results").mkdir(exist_ok=True)
        (self.run / "results" / "node1-11.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in self.records))


def loop_plan(stages: list[dict], loops: list[dict]) -> dict:
    """plan_doc, with every task needing all tasks of its stage's needs, and outputs."""
    plan = plan_doc(stages, loops=loops)
    ids: dict[str, list[str]] = {}
    for t in plan["tasks"]:
        ids.setdefault(t["stage"], []).append(t["id"])
    needs = {s["name"]: s.get("needs", []) for s in stages}
    for t in plan["tasks"]:
        t["needs"] = [i for n in needs[t["stage"]] for i in ids[n]]
    for s, spec in zip(plan["stages"], stages, strict=True):
        s["outputs"] = spec.get("outputs", [])
    return plan


@pytest.fixture
def al_run(tmp_path) -> tuple[Path, dict]:
    """prep -> loop al (train[0..1] -> label[0..1], feedback label -> train), 3 iterations
    -> final. Each train writes model.bin and plot.png; final writes a (scripted) SVG, a
    PNG linked to outside the run directory, a .png that is not a PNG and a hostile name."""
    run = tmp_path / "al"
    run.mkdir()
    w = Runner(run)
    events = [done("prep", {"n": 1}, T0)]
    files = {"prep": w.task("prep", {"data.txt": b"dataset"})}
    for k in (1, 2, 3):
        for i in (0, 1):
            tid = f"train[{i}]@{k}"
            files[tid] = w.task(tid, {"model.bin": f"model {i} {k}".encode(),
                                      "plot.png": png(tid.encode())})
            events.append(done(tid, {"loss": 1 / k}, T0 + k, index=i, iteration=k, loop="al"))
        for i in (0, 1):
            tid = f"label[{i}]@{k}"
            staged = {f"in/train[{j}]/model.bin": files[f"train[{j}]@{k}"]["model.bin"][0]
                      for j in (0, 1)}  # what a worker records of the files it staged in
            files[tid] = w.task(tid, {"labels.txt": f"labels {i} {k}".encode()}, inputs=staged)
            events.append(done(tid, {"n": 3}, T0 + k + 0.5, index=i, iteration=k, loop="al"))
    outside = tmp_path / "outside.png"
    outside.write_bytes(png(b"secret outside"))
    files["final"] = w.task("final", {"summary.svg": SVG, "fake.png": b"not a png",
                                      HOSTILE_NAME: SVG}, link={"evil.png": outside})
    events += [("loop_finished", {"loop": "al", "iterations": 3, "reason": "max_iterations"}),
               done("final", {"best": 1}, T0 + 5), finished("succeeded")]
    w.save()
    plan = loop_plan([{"name": "prep", "tasks": 1, "outputs": ["data.txt"]},
                      {"name": "train", "tasks": 2, "needs": ["prep"], "loop": "al",
                       "outputs": ["model.bin", "plot.png"]},
                      {"name": "label", "tasks": 2, "needs": ["train"], "loop": "al",
                       "outputs": ["labels.txt"]},
                      {"name": "final", "tasks": 1, "needs": ["label"],
                       "outputs": ["summary.svg", "evil.png", "fake.png", HOSTILE_NAME]}],
                     loops=[{"name": "al", "stages": ["train", "label"], "max_iterations": 3,
                             "feedback": [{"from": "label", "to": "train"}]}])
    make_run(run, events, plan)
    return run, files


class Rows(HTMLParser):
    """The lineage tables: task id -> the text of its row's cells."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, list[str]] = {}
        self._cells: list[str] | None = None
        self.feed(text[text.index('id="lineage"'):])

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._cells = []
        elif tag == "td" and self._cells is not None:
            self._cells.append("")
        elif tag == "br" and self._cells:
            self._cells[-1] += "\n"

    def handle_endtag(self, tag):
        if tag == "tr" and self._cells:
            self.rows[self._cells[0]] = self._cells[1:]
            self._cells = None

    def handle_data(self, data):
        if self._cells:
            self._cells[-1] += data


def images(html: str) -> list[str]:
    return [a["src"] for a in Doc(html).find("img")]


def test_lineage_follows_files_through_the_loop(al_run):
    run, files = al_run
    html = render_report(run)
    rows = Rows(html).rows
    assert set(rows) >= {"prep", "final"} | {f"{s}[{i}]@{k}" for s in ("train", "label")
                                             for i in (0, 1) for k in (1, 2, 3)}
    state, wrote, read = rows["train[0]@2"]
    assert state == "done"
    assert "model.bin " + files["train[0]@2"]["model.bin"][0][:10] in wrote
    assert files["train[0]@1"]["model.bin"][0][:10] not in wrote
    assert read.splitlines() == ["prep", "feedback: label[0]@1, label[1]@1"]
    assert rows["train[0]@1"][2] == "prep"  # no feedback into the first iteration
    assert rows["label[1]@3"][2].splitlines() == [
        "train[0]@3, train[1]@3",
        f"staged: in/train[0]/model.bin {files['train[0]@3']['model.bin'][0][:10]}",
        f"in/train[1]/model.bin {files['train[1]@3']['model.bin'][0][:10]}"]
    assert rows["final"][2] == "label[0]@3, label[1]@3"  # after the loop: its last iteration
    # upstream ids link to their rows
    doc = Doc(html)
    targets = {a["id"] for a in doc.find("span") if a.get("id", "").startswith("t-")}
    links = [a["href"][1:] for a in doc.find("a") if a.get("href", "").startswith("#t-")]
    assert links and set(links) <= targets
    assert doc.find("a", href="#lineage") and doc.find("h3", id="lineage")  # and nav link


def test_figures_of_the_last_iteration_only(al_run):
    run, _ = al_run
    html = render_report(run)
    srcs = images(html)
    last = base64.b64encode(png(b"train[0]@3")).decode()
    assert f"data:image/png;base64,{last}" in srcs
    assert f"data:image/png;base64,{base64.b64encode(png(b'train[1]@3')).decode()}" in srcs
    for k in (1, 2):  # superseded by iteration 3
        assert base64.b64encode(png(f"train[0]@{k}".encode())).decode() not in html
    assert "4 image(s) of earlier loop iterations are not shown" in Doc(html).all_text
    assert all(s.startswith("data:image/") for s in srcs)
    doc = Doc(html)
    assert doc.find("a", href="#figures") and doc.find("h3", id="figures")
    metrics = html[html.index('<section id="metrics"'):html.index('<section id="failures"')]
    assert len(images(metrics)) == len(srcs)  # in the Metrics section


def test_svg_is_only_an_image(al_run):
    run, _ = al_run
    html = render_report(run)
    svg = f"data:image/svg+xml;base64,{base64.b64encode(SVG).decode()}"
    assert images(html).count(svg) == 2  # summary.svg and the hostile name
    doc = Doc(html)
    assert not [t for t, _ in doc.tags if t == "script"]
    assert "<script" not in html.lower() and 'alert("svg")' not in html
    assert not [a for a in doc.find("svg") if a.get("xmlns") == "http://www.w3.org/2000/svg"
                and a.get("width") == "10"]  # the task's SVG is never inline markup
    assert not doc.find("b")  # the hostile file name is text
    assert HOSTILE_NAME in doc.all_text
    assert [a["data-file"] for a in doc.classed("figure", "fig")
            if a["data-task"] == "final"] == ["summary.svg", HOSTILE_NAME]


def test_links_out_of_the_run_and_impostors_are_refused(al_run):
    run, _ = al_run
    html = render_report(run)
    assert base64.b64encode(png(b"secret outside")).decode() not in html
    text = Doc(html).all_text
    assert "final: evil.png: not embedded: it resolves outside the run directory." in text
    assert "final: fake.png: not embedded: its content is not image/png." in text
    data, why = fg.read_image(run, "final", "../../../outside.png")
    assert data is None and "outside the run directory" in why


def test_figure_caps(al_run, monkeypatch):
    run, _ = al_run
    monkeypatch.setattr(fg, "MAX_BYTES", 50)
    text = Doc(render_report(run)).all_text
    assert re.search(r"train\[0\]@3: plot\.png: not embedded: \d+ B, over 50 B", text)
    monkeypatch.setattr(fg, "MAX_BYTES", 2 * 1024 * 1024)
    monkeypatch.setattr(fg, "MAX_FIGURES", 1)
    html = render_report(run)
    assert len(images(html)) == 1
    assert "5 more image(s) not embedded (at most 1)." in Doc(html).all_text


def test_no_figures(tmp_path):
    run = make_run(tmp_path / "r", [done("a", 1, T0), finished("succeeded")],
                   plan_doc([{"name": "a", "tasks": 1}]))
    doc = Doc(render_report(run))
    assert not doc.find("img") and not doc.find("h3", id="figures")
    assert not doc.find("a", href="#figures")  # no nav link to nothing


def test_row_cap_and_folding(tmp_path):
    """30 iterations of 20 tasks: at most MAX_ROWS rows, every iteration shown, the rest
    counted; 20 upstream tasks of one stage fold to `stage[*]@k`."""
    events = [done("prep", 1, T0)]
    for k in range(1, 31):
        events += [done(f"work[{i}]@{k}", 1, T0 + k, index=i, iteration=k, loop="al")
                   for i in range(20)]
    events += [done("final", 1, T0 + 40), finished("succeeded")]
    plan = loop_plan([{"name": "prep", "tasks": 1},
                      {"name": "work", "tasks": 20, "needs": ["prep"], "loop": "al"},
                      {"name": "final", "tasks": 1, "needs": ["work"]}],
                     loops=[{"name": "al", "stages": ["work"], "max_iterations": 30,
                             "feedback": [{"from": "work", "to": "work"}]}])
    run = make_run(tmp_path / "big", events, plan)
    html = render_report(run)
    rows = Rows(html).rows
    assert 100 <= len(rows) <= ln.MAX_ROWS
    assert {"prep", "final", "work[0]@1", "work[0]@30"} <= set(rows)
    assert rows["final"][2] == "work[*]@30 (20 tasks)"
    assert rows["work[0]@2"][2] == "prep\nfeedback: work[*]@1 (20 tasks)"
    text = Doc(html).all_text
    assert "more task(s) of this group not listed (at most 200 rows in all)" in text


def test_caps_share_rows_between_groups():
    assert ln._caps([3, 4], 200) == [3, 4]
    assert ln._caps([2, 100, 100], 50) == [2, 24, 24]
    assert ln._caps([10] * 100, 30) == [5] * 6 + [0] * 94
