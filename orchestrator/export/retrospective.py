"""The retrospective half of the crate: what ran. Every task as a CreateAction (its stage's
tool as instrument; the files it read as `object`, those it wrote as `result`, both with
their SHA-256; start and end, host, exit status), per stage (and loop iteration) a
ControlAction, the workflow run as a CreateAction of the main workflow, and orch itself as
the OrganizeAction that ran it all. The site config is an `object` of the workflow run (a
configuration file, as Process Run Crate has them): roc-validator 0.13 accepts only
ControlActions as the OrganizeAction's `object`.

Lineage is the links: the dataset a task wrote is the `result` of its action and the
`object` of every action that read it (staged in, or given as an upstream result), so
dataset -> model -> the runs that used the model can be followed through the crate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from orchestrator.export.graph import Graph, file_entity, iso, local_id, ref, refs, short_json
from orchestrator.export.payload import Payload
from orchestrator.export.prospective import ENGINE, Prospective
from orchestrator.export.run_record import RunRecord, TaskFacts
from orchestrator.report.lineage import Wiring, plan_id
from orchestrator.state.rundir import task_dirname
from orchestrator.state.states import TaskState
from orchestrator.state.status_model import TaskStatus

RUN = "#workflow-run"
COMPLETED = "http://schema.org/CompletedActionStatus"
FAILED = "http://schema.org/FailedActionStatus"
"""actionStatus values are strings, as the profiles' validator expects."""
ORGANIZE = "#orch-run"
_DONE = (TaskState.DONE, TaskState.CACHED)
_PLACE_NAMES = {TaskState.DEP_FAILED: "not run: a task it needs failed",
                TaskState.CANCELLED: "not finished: the attempt that started it ended first"}


class Retrospective:
    """Builds the actions; `outputs` maps a task id to the @ids of the files it wrote."""

    def __init__(self, rec: RunRecord, payload: Payload, g: Graph, pro: Prospective):
        self.rec, self.payload, self.g, self.pro = rec, payload, g, pro
        self.outputs: dict[str, list[str]] = {}
        self.by_dir: dict[str, str] = {}  # task directory name -> task id
        self.parts: list[str] = []
        self.plan_tasks = {t["id"]: t for t in rec.plan.get("tasks") or []
                           if isinstance(t, dict) and isinstance(t.get("id"), str)}
        self.kinds = {s.get("name"): s.get("kind") for s in rec.plan.get("stages") or []
                      if isinstance(s, dict)}

    def build(self) -> list[str]:
        """Adds every action; returns the @ids the root `mentions`."""
        ran = [t for t in self.rec.status.tasks if t.state is not TaskState.PENDING]
        for t in ran:
            self.by_dir[task_dirname(t.id)] = t.id
            self.outputs[t.id] = self._outputs(t)
        wiring = Wiring.read(self.rec.plan, self.rec.status)
        actions = [self._task_action(t, wiring) for t in ran]
        controls = self._controls(ran, actions)
        self._run_action()
        self._organize(controls)
        return [RUN, ORGANIZE, *controls, *actions]

    # ---- files -------------------------------------------------------------------------
    def _outputs(self, t: TaskStatus) -> list[str]:
        facts = self.rec.facts.get(t.id) or TaskFacts()
        d = task_dirname(t.id)
        ids = []
        for name, v in facts.files.items():
            sha, size, mtime = [*v, None, None, None][:3] if isinstance(v, list) else (
                v, None, None)
            placed = self.payload.data(self.rec.path / "tasks" / d / name, f"tasks/{d}/{name}",
                                       sha if isinstance(sha, str) else None,
                                       size if isinstance(size, int) else None)
            self.g.add(file_entity(placed, Path(name).name, f"Written by task {t.id}.",
                                   mtime_ns=mtime if isinstance(mtime, int) else None))
            ids.append(placed.id)
        self.parts += ids
        for log in ("stdout", "stderr"):
            path = getattr(t, log)
            if isinstance(path, str):
                placed = self.payload.data(Path(path), f"tasks/{d}/{log}")
                self.g.add(file_entity(placed, log, f"The {log} of task {t.id}, every attempt "
                                       "under a header line.", about=ref(local_id("task", t.id))))
                self.parts.append(placed.id)
        return ids

    def _staged(self, t: TaskStatus, facts: TaskFacts) -> list[str]:
        """The upstream files a task staged in, as the entities of their producers' outputs
        (the same SHA-256), or as entities of their own when the producer's file changed."""
        ids = []
        for rel, sha in facts.inputs.items():
            parts = Path(rel).parts
            producer = self.by_dir.get(parts[1]) if len(parts) >= 3 else None
            name = "/".join(parts[2:])
            made = self.rec.facts.get(producer) if producer else None
            v = made.files.get(name) if made else None
            if isinstance(v, list) and v and v[0] == sha:
                d = task_dirname(producer)
                ids.append(self._id_of(f"tasks/{d}/{name}"))
                continue
            eid = f"#file-sha256-{sha}"
            self.g.add({"@id": eid, "@type": "File", "name": Path(name).name, "sha256": sha,
                        "description": f"{rel} as task {t.id} read it: a version of "
                                       f"{producer or parts[1]}'s {name} that the run "
                                       "directory no longer holds."})
            ids.append(eid)
        return ids

    def _id_of(self, rel: str) -> str:
        placed = self.payload.placed(rel)
        return placed.id if placed else rel

    # ---- tasks -------------------------------------------------------------------------
    def _task_action(self, t: TaskStatus, wiring: Wiring) -> str:
        facts = self.rec.facts.get(t.id) or TaskFacts()
        aid = local_id("task", t.id)
        needs, back = wiring.upstream(t)
        objects = self._staged(t, facts)
        for up in needs + back:
            objects += self.outputs.get(up, [])
        objects += self._sweep_values(t, aid)
        results = list(self.outputs.get(t.id, []))
        results += self._result_values(t, aid)
        e: dict[str, Any] = {
            "@id": aid, "@type": "CreateAction", "name": f"task {t.id}",
            "description": self._task_text(t, facts), "instrument": ref(self.pro.tools.get(
                t.stage, local_id("stage", t.stage))),
            "actionStatus": (COMPLETED if t.state in _DONE else FAILED)}
        start = t.started if t.started is not None else facts.start
        for k, v in (("startTime", iso(start)), ("endTime", iso(t.ended))):
            if v:
                e[k] = v
        if objects:
            e["object"] = refs(objects)
        if results:
            e["result"] = refs(results)
        host = t.host or facts.start_host
        if host:
            e["location"] = ref(self._host(host))
        if t.state not in _DONE:
            e["error"] = self._error(t)
        self._environment(t, e)
        self.g.add(e)
        return aid

    def _task_text(self, t: TaskStatus, facts: TaskFacts) -> str:
        bits = [f"stage {t.stage}"]
        if t.iteration is not None:
            bits.append(f"loop {t.loop} iteration {t.iteration}")
        if t.attempts:
            bits.append(f"{t.attempts} attempt(s)")
        if t.state is TaskState.CACHED:
            bits.append("cached: its result comes from an earlier attempt with the same key")
        if facts.key:
            bits.append(f"key {facts.key}")
        return f"Task {t.id} ({t.state.value}): " + "; ".join(bits)

    def _error(self, t: TaskStatus) -> str:
        text = t.error or _PLACE_NAMES.get(t.state, t.state.value)
        if t.exit_code is not None:
            text += f" (exit code {t.exit_code}" + (f", {t.signal}" if t.signal else "") + ")"
        if t.stderr_tail:
            text += "\nstderr:\n" + t.stderr_tail
        return text

    def _sweep_values(self, t: TaskStatus, aid: str) -> list[str]:
        point = (self.plan_tasks.get(plan_id(t)) or {}).get("sweep") or {}
        ids = []
        for name, value in point.items() if isinstance(point, dict) else ():
            pid = f"{aid}-sweep-{quote(str(name), safe='')}"
            self.g.add({"@id": pid, "@type": "PropertyValue", "name": str(name),
                        "value": value if isinstance(value, str | int | float | bool)
                        else short_json(value), "description": "this task's sweep point"})
            ids.append(pid)
        return ids

    def _result_values(self, t: TaskStatus, aid: str) -> list[str]:
        ids = []
        if t.exit_code is not None:
            self.g.add({"@id": f"{aid}-exit-code", "@type": "PropertyValue", "name": "exit code",
                        "propertyID": "exit_code", "value": t.exit_code})
            ids.append(f"{aid}-exit-code")
        if t.state in _DONE and self.kinds.get(t.stage) == "python" and t.result is not None:
            self.g.add({"@id": f"{aid}-result", "@type": "PropertyValue", "name": "result",
                        "value": short_json(t.result),
                        "description": "what the task returned (JSON)"})
            ids.append(f"{aid}-result")
        return ids

    def _host(self, host: str) -> str:
        hid = local_id("host", host)
        self.g.add({"@id": hid, "@type": "Place", "name": host,
                    "description": "a host (node) tasks ran on"})
        return hid

    def _environment(self, t: TaskStatus, e: dict[str, Any]) -> None:
        env = self.pro.environments.get(t.stage)
        if not env:
            return
        variables = env.get("env") if isinstance(env.get("env"), dict) else {}
        ids = []
        for k, v in sorted(variables.items()):
            vid = local_id("env", f"{env['name']}-{k}")
            self.g.add({"@id": vid, "@type": "PropertyValue", "name": str(k), "value": str(v)})
            ids.append(vid)
        if ids:
            e["environment"] = refs(ids)
        box = env.get("container") if isinstance(env.get("container"), dict) else None
        if box and box.get("image"):
            e["containerImage"] = ref(_container(self.g, env["name"], box))

    # ---- steps, the run, the engine -----------------------------------------------------
    def _controls(self, ran: list[TaskStatus], actions: list[str]) -> list[str]:
        groups: dict[tuple[str, int | None], list[tuple[TaskStatus, str]]] = {}
        for t, aid in zip(ran, actions, strict=True):
            groups.setdefault((t.stage, t.iteration), []).append((t, aid))
        out = []
        for (stage, k), members in groups.items():
            name = stage if k is None else f"{stage}@{k}"
            cid = local_id("step-run", name)
            ok = all(t.state in _DONE for t, _ in members)
            e = {"@id": cid, "@type": "ControlAction", "name": f"stage {name}",
                 "instrument": ref(self.pro.steps.get(stage, local_id("step", stage))),
                 "object": refs([a for _, a in members]),
                 "actionStatus": COMPLETED if ok else FAILED}
            if not ok:
                bad = [t.id for t, _ in members if t.state not in _DONE]
                e["error"] = f"{len(bad)} of {len(members)} task(s) did not complete: " + \
                    ", ".join(bad[:20]) + (" ..." if len(bad) > 20 else "")
            self.g.add(e)
            out.append(cid)
        return out

    def _run_action(self) -> None:
        st = self.rec.status
        sinks = _sink_stages(self.rec.plan)
        results = [f for t in st.tasks if t.stage in sinks for f in self.outputs.get(t.id, [])]
        e: dict[str, Any] = {
            "@id": RUN, "@type": "CreateAction",
            "name": f"orch run of {st.workflow} on site {st.site}",
            "description": f"The workflow run ({st.state}; {len(st.attempts)} attempt(s)). "
                           "Its result: the files written by the stages no other stage needs.",
            "instrument": ref(self.pro.workflow),
            "object": refs(self.pro.values + ([self.pro.site] if self.pro.site else [])),
            "actionStatus": _run_status(st.state)}
        for k, v in (("startTime", iso(st.started)), ("endTime", iso(st.ended))):
            if v:
                e[k] = v
        if results:
            e["result"] = refs(results)
        if st.state != "succeeded" and st.state != "running":
            bad = [t.id for t in st.tasks if t.state is TaskState.FAILED]
            e["error"] = f"the run {st.state}" + (
                f": {len(bad)} task(s) failed: " + ", ".join(bad[:20]) if bad else "")
        self.g.add(e)

    def _organize(self, controls: list[str]) -> None:
        st = self.rec.status
        argv = [a for a in self.rec.meta.get("attempts") or [] if isinstance(a, dict)]
        lines = []
        for i, a in enumerate(st.attempts):
            cmd = " ".join(map(str, argv[i].get("argv") or [])) if i < len(argv) else ""
            lines.append(f"attempt {a.number} at {iso(a.started)}: orch {cmd} ({a.state})")
        e: dict[str, Any] = {
            "@id": ORGANIZE, "@type": "OrganizeAction", "name": "orch run",
            "description": "orchestrator ran the workflow: " + "; ".join(lines),
            "instrument": ref(ENGINE), "result": ref(RUN), "object": refs(controls),
            "actionStatus": _run_status(st.state)}
        for k, v in (("startTime", iso(st.started)), ("endTime", iso(st.ended))):
            if v:
                e[k] = v
        if st.state not in ("succeeded", "running"):
            e["error"] = f"the run {st.state}"
        self.g.add(e)


def _run_status(state: str) -> str:
    if state == "succeeded":
        return COMPLETED
    if state == "running":
        return "http://schema.org/ActiveActionStatus"
    return FAILED


def _sink_stages(plan: dict[str, Any]) -> set[str]:
    stages = [s for s in plan.get("stages") or [] if isinstance(s, dict)]
    needed = {n for s in stages for n in s.get("needs") or []}
    return {s.get("name") for s in stages if s.get("name") not in needed}


def _container(g: Graph, env: str, box: dict[str, Any]) -> str:
    cid = local_id("container", env)
    image = str(box["image"])
    engine = box.get("engine") or "podman"
    sif = engine == "apptainer" and not image.startswith("docker://")
    ref_part = image.split("://", 1)[-1]
    registry, rest = "", ref_part
    head = ref_part.split("/", 1)
    if len(head) == 2 and ("." in head[0] or ":" in head[0] or head[0] == "localhost"):
        registry, rest = head
    name, _, tag = rest.rpartition(":") if ":" in rest.rsplit("/", 1)[-1] else (rest, "", "")
    e = {"@id": cid, "@type": "ContainerImage", "name": name or rest,
         "additionalType": ref("https://w3id.org/ro/terms/workflow-run#"
                               + ("SIFImage" if sif else "DockerImage")),
         "description": f"{engine} image {image} (environment {env})"}
    if registry:
        e["registry"] = registry
    if tag:
        e["tag"] = tag
    g.add(e)
    return cid
