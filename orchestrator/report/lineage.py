"""The report's lineage: stage edges, and per task instance the files it wrote and the task
instances it read from, grouped by loop iteration.

A reader follows data through a loop: iteration k's `train[0]@k` wrote `graph.pb` (its
sha256), `explore[*]@k` read `train[*]@k`, and `train[*]@k+1` read `label[*]@k`
(feedback). Upstream instances come from plan.json, as the driver wires them
(backends/driver.py): a need in the same loop is the same iteration, a need in another
loop (or from outside any loop) is that loop's last iteration, a need outside loops has no
iteration, and a loop's `feedback` gives iteration k every task of its `from` stage at k-1.
Files are the `files` of the workers' result records (declared outputs: sha256, size) and
their `inputs` (what a task staged in: sha256). No Parsl here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from orchestrator.report import lineage_columns as columns
from orchestrator.report import stage_graph
from orchestrator.report.parts import badge, size_text, table
from orchestrator.report.svg import esc
from orchestrator.report.table_view import RowsById
from orchestrator.state.status_model import RunStatus, TaskStatus
from orchestrator.state.task_table import TaskTable

MAX_ROWS = 200
"""Task rows in all groups together."""
MIN_GROUP_ROWS = 5
MAX_FILES = 6
"""Files listed per task (written, and staged in)."""
MAX_UPSTREAM = 8
SHA_CHARS = 10


def plan_id(t: TaskStatus) -> str:
    """The plan's id of a task instance: `train[0]` for `train[0]@3`."""
    if t.iteration is not None and "@" in t.id:
        return t.id.rsplit("@", 1)[0]
    return t.id


def anchor(task_id: str) -> str:
    return "t-" + hashlib.sha1(task_id.encode()).hexdigest()[:12]


@dataclass
class Wiring:
    """Who feeds whom, from plan.json, and each loop's last iteration from the status."""

    task_stage: dict[str, str] = field(default_factory=dict)
    task_needs: dict[str, list[str]] = field(default_factory=dict)
    stage_loop: dict[str, str | None] = field(default_factory=dict)
    stage_tasks: dict[str, list[str]] = field(default_factory=dict)
    feedback: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(loop, to stage) -> from stages."""
    last: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, plan: dict[str, Any], st: RunStatus,
             last: dict[str, int] | None = None) -> Wiring:
        """`last`: each loop's last iteration, if known (lineage_columns.last_iterations)."""
        w = cls()
        for s in plan.get("stages") or []:
            if isinstance(s, dict) and isinstance(s.get("name"), str):
                w.stage_loop[s["name"]] = s.get("loop") if isinstance(s.get("loop"), str) else None
        for t in plan.get("tasks") or []:
            if isinstance(t, dict) and isinstance(t.get("id"), str):
                stage = str(t.get("stage"))
                w.task_stage[t["id"]] = stage
                w.task_needs[t["id"]] = [n for n in t.get("needs") or [] if isinstance(n, str)]
                w.stage_tasks.setdefault(stage, []).append(t["id"])
        for lp in plan.get("loops") or []:
            for fb in (lp.get("feedback") or []) if isinstance(lp, dict) else []:
                if isinstance(fb, dict) and isinstance(fb.get("from"), str):
                    w.feedback.setdefault((str(lp.get("name")), str(fb.get("to"))),
                                          []).append(fb["from"])
        if last is not None:
            w.last = dict(last)
            return w
        for t in st.tasks:
            if t.loop and isinstance(t.iteration, int):
                w.last[t.loop] = max(w.last.get(t.loop, 0), t.iteration)
        return w

    def upstream(self, t: TaskStatus) -> tuple[list[str], list[str]]:
        """(instances it read as `needs`, instances it got as loop feedback)."""
        k = t.iteration
        needs = []
        for n in self.task_needs.get(plan_id(t), []):
            loop = self.stage_loop.get(self.task_stage.get(n, ""))
            if loop is None:
                needs.append(n)
            elif loop == t.loop and k is not None:
                needs.append(f"{n}@{k}")
            else:
                needs.append(f"{n}@{self.last[loop]}" if loop in self.last else n)
        back = []
        if t.loop and isinstance(k, int) and k > 1:
            for src in self.feedback.get((t.loop, t.stage), []):
                back += [f"{p}@{k - 1}" for p in self.stage_tasks.get(src, [])]
        return needs, back


def stage_edges(plan: dict[str, Any], st: RunStatus) -> str:
    """Every `needs` edge, stage to stage, with task counts, and the loops' feedback."""
    counts = {s.name: s.counts for s in st.stages}

    def desc(s: str) -> str:
        c = counts.get(s, {})
        ok = c.get("done", 0) + c.get("cached", 0)
        return f"{esc(s)} <span class=\"note\">({ok:,}/{sum(c.values()):,} ok)</span>"

    rows = []
    for e in stage_graph.stage_edges(plan):
        n = sum(counts.get(e.src, {}).values())
        how = ("feedback: results of iteration k go to iteration k+1" if e.feedback else
               f"each task receives all {n:,} result(s)")
        rows.append([desc(e.src), desc(e.dst), esc(how)])
    return table(["from", "to", "what flows"], rows) if rows else "<p>No stage needs another.</p>"


def lineage(plan: dict[str, Any], st: RunStatus, results: dict[str, dict[str, Any]],
            task_table: TaskTable | None = None) -> str:
    """The Lineage part of Provenance: stage edges, then files per task instance. `task_table`:
    the tasks as columns (report/table_view.plain), read by lineage_columns.py."""
    head = ('<h3 id="lineage">Lineage</h3>' + stage_edges(plan, st) + "<h3>Files per task</h3>"
            '<p class="note">Each task that ran, grouped by loop iteration: the files it '
            f"wrote (its declared outputs: name, the first {SHA_CHARS} hex digits of their "
            "SHA-256, size) and the task instances it read from (a loop's feedback "
            "comes from the previous iteration); staged: the upstream files it read, "
            "with their SHA-256. Equal hashes are the same file.</p>")
    if task_table is not None:
        groups = columns.groups(task_table)
        caps = _caps([len(rows) for _, rows in groups], MAX_ROWS)
        chosen = [columns.pick(task_table, rows, c)
                  for (_, rows), c in zip(groups, caps, strict=True)]
        known: Container[str] = RowsById(task_table)
        wiring = Wiring.read(plan, st, columns.last_iterations(task_table))
    else:
        groups = _groups(st)
        caps = _caps([len(ts) for _, ts in groups], MAX_ROWS)
        chosen = [_pick(ts, c) for (_, ts), c in zip(groups, caps, strict=True)]
        known = {t.id for t in st.tasks}
        wiring = Wiring.read(plan, st)
    if not groups:
        return head + "<p>No task has run yet.</p>"
    shown = {t.id for ts in chosen for t in ts}
    opened = " open" if len(shown) <= 40 else ""
    parts, skipped, skipped_tasks = [], 0, 0
    for (title, ts), rows in zip(groups, chosen, strict=True):
        if not rows:
            skipped, skipped_tasks = skipped + 1, skipped_tasks + len(ts)
            continue
        body = table(["task", "state", "files written", "read from"],
                     [_row(t, results.get(t.id), wiring, shown, known) for t in rows])
        more = (f'<p class="note">{len(ts) - len(rows):,} more task(s) of this group not listed '
                f"(at most {MAX_ROWS} rows in all).</p>" if len(rows) < len(ts) else "")
        parts.append(f"<details{opened}><summary>{esc(title)}: {len(ts):,} task(s)</summary>"
                     f"{body}{more}</details>")
    if skipped:
        parts.append(f'<p class="note">{skipped:,} more group(s), {skipped_tasks:,} task(s), '
                     f"not listed (at most {MAX_ROWS} rows in all).</p>")
    return head + "".join(parts)


def _groups(st: RunStatus) -> list[tuple[str, list[TaskStatus]]]:
    """Tasks outside loops, then each loop's iterations in order; tasks that never started
    (pending) are left out."""
    outside: list[TaskStatus] = []
    looped: dict[tuple[str, int], list[TaskStatus]] = {}
    order: dict[str, int] = {}
    for t in st.tasks:
        if t.state.value == "pending":
            continue
        if isinstance(t.iteration, int):
            loop = t.loop or "?"
            order.setdefault(loop, len(order))
            looped.setdefault((loop, t.iteration), []).append(t)
        else:
            outside.append(t)
    groups = [("not in a loop", outside)] if outside else []
    for (loop, k), ts in sorted(looped.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        groups.append((f"loop {loop}, iteration {k}", ts))
    return groups


def _caps(sizes: list[int], budget: int) -> list[int]:
    """Rows per group: the same cap for every group, the largest that fits the budget
    (small groups show whole); with too many groups, MIN_GROUP_ROWS each in order until the
    budget is spent."""
    if sum(sizes) <= budget:
        return list(sizes)
    lo, hi = 0, max(sizes)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(s, mid) for s in sizes) <= budget:
            lo = mid
        else:
            hi = mid - 1
    if lo >= MIN_GROUP_ROWS:
        return [min(s, lo) for s in sizes]
    caps = []
    for s in sizes:
        take = min(s, MIN_GROUP_ROWS, budget)
        caps.append(take)
        budget -= take
    return caps


def _pick(tasks: list[TaskStatus], n: int) -> list[TaskStatus]:
    """`n` of a group's tasks, taking each stage in turn so that every stage shows."""
    if n >= len(tasks):
        return tasks
    by_stage: dict[str, list[int]] = {}
    for i, t in enumerate(tasks):
        by_stage.setdefault(t.stage, []).append(i)
    picked: list[int] = []
    queues = list(by_stage.values())
    depth = 0
    while len(picked) < n:
        for q in queues:
            if depth < len(q) and len(picked) < n:
                picked.append(q[depth])
        depth += 1
    return [tasks[i] for i in sorted(picked)]


def _row(t: TaskStatus, rec: dict[str, Any] | None, wiring: Wiring, shown: set[str],
         known: set[str]) -> list[str]:
    rec = rec if isinstance(rec, dict) else {}
    needs, back = wiring.upstream(t)
    read = _instances(needs, wiring, shown, known)
    if back:
        read += ("<br>" if read else "") + "feedback: " + _instances(back, wiring, shown, known)
    staged = _files(rec.get("inputs"))
    if staged:
        read += ("<br>" if read else "") + '<span class="note">staged:</span> ' + staged
    return [f'<span id="{anchor(t.id)}">{esc(t.id)}</span>', badge(t.state.value),
            _files(rec.get("files")) or "-", read or "-"]


def _files(files: Any) -> str:
    """`{name: [sha256, size, mtime_ns]}` (outputs) or `{name: sha256}` (staged inputs)."""
    if not isinstance(files, dict) or not files:
        return ""
    out = []
    for name, v in list(files.items())[:MAX_FILES]:
        sha = v[0] if isinstance(v, list) and v else v
        size = f" {esc(size_text(v[1]))}" if isinstance(v, list) and len(v) > 1 else ""
        sha_html = (f' <code title="sha256 {esc(sha)}">{esc(sha[:SHA_CHARS])}</code>'
                    if isinstance(sha, str) else "")
        out.append(f"<code>{esc(name)}</code>{sha_html}{size}")
    if len(files) > MAX_FILES:
        out.append(f'<span class="note">and {len(files) - MAX_FILES:,} more</span>')
    return "<br>".join(out)


def _instances(ids: list[str], wiring: Wiring, shown: set[str], known: set[str]) -> str:
    """Task instance ids, linked to their rows; a whole stage's worth of one iteration
    folds to `stage[*]@k` when there are many."""
    items: list[str] = []
    rest = list(ids)
    if len(ids) > MAX_UPSTREAM:
        groups: dict[tuple[str, str], list[str]] = {}
        for uid in ids:
            base = uid.rsplit("@", 1)[0] if "@" in uid else uid
            groups.setdefault((wiring.task_stage.get(base, base), uid[len(base):]),
                              []).append(uid)
        rest = []
        for (stage, suffix), members in groups.items():
            if len(members) > 1 and len(members) == len(wiring.stage_tasks.get(stage, [])):
                items.append(f"{esc(stage)}[*]{esc(suffix)} "
                             f'<span class="note">({len(members):,} tasks)</span>')
            else:
                rest += members
    listed = rest[:max(0, MAX_UPSTREAM - len(items))]
    for uid in listed:
        if uid in shown:
            items.append(f'<a href="#{anchor(uid)}">{esc(uid)}</a>')
        else:
            items.append(esc(uid) + ("" if uid in known else ' <span class="note">(not run)</span>'))
    left = len(rest) - len(listed)
    return ", ".join(items) + (f" and {left:,} more" if left else "")
