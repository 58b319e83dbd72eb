"""The report's rooms: one list (html.SECTIONS) makes the sections and the navigation, and
the Summary's hours columns follow the device-kind registry (device_kinds.KINDS)."""

from __future__ import annotations

from test_report_html import T0, Doc, done, finished, make_run, plan_doc

from orchestrator.device_kinds import KINDS
from orchestrator.report import summary, usage
from orchestrator.report.html import SECTIONS, render_report
from orchestrator.report.usage import HoursColumn, stage_usage
from orchestrator.state.status import load_status


def _run(tmp_path, failed: bool = False):
    events = [done("a", {"x": 1.0}, T0)]
    if failed:
        events.append(("task_failed", {"task": "b", "stage": "b", "error": "boom",
                                       "attempts": 1, "ended": T0 + 3}))
    events.append(finished("failed" if failed else "succeeded"))
    return make_run(tmp_path / "r", events, plan_doc([{"name": "a", "tasks": 1},
                                                      {"name": "b", "tasks": 1}]))


def test_one_list_makes_sections_and_navigation(tmp_path):
    doc = Doc(render_report(_run(tmp_path, failed=True)))
    assert [a["id"] for a in doc.find("section")] == [s.id for s in SECTIONS]
    links = [a["href"] for t, a in doc.tags if t == "a" and (a.get("href") or "")[:1] == "#"]
    expected = [f"#{i}" for s in SECTIONS for i in (s.id, *(a.id for a in s.anchors
                                                             if a.id != "figures"))]
    assert links == expected  # no figures in this run: no link to them
    assert "Failures (1 failed)" in doc.all_text and "Stages (DAG)" in doc.all_text


def test_hours_columns_follow_the_device_registry(tmp_path):
    labels = [c.label for c in usage.HOURS]
    assert labels == ["node_hours", *(k.hours_label for k in KINDS.values() if k.hours_label)]
    text = Doc(render_report(_run(tmp_path))).all_text
    for col in usage.HOURS:
        assert f"{col.heading} used / expected / planned" in text


def test_a_new_device_kind_gets_its_column(tmp_path, monkeypatch):
    columns = (*usage.HOURS, HoursColumn("npu", "npu_hours", "npus"))
    monkeypatch.setattr(usage, "HOURS", columns)
    monkeypatch.setattr(summary, "HOURS", columns)
    plan = plan_doc([{"name": "a", "tasks": 2}])
    plan["stages"][0]["npu_hours"] = 2.0  # 2 tasks x 0.5 h x 2 units
    run = make_run(tmp_path / "r", [done(f"a[{i}]", 1, T0, seconds=3600.0, index=i)
                                    for i in range(2)] + [finished("succeeded")], plan)
    (u,) = stage_usage(plan, load_status(run))
    assert u.npu_hours == 4.0 and u.planned_npu_hours == 2.0 and u.expected_npu_hours is None
    assert "NPU-h used / expected / planned" in Doc(render_report(run)).all_text
