"""Cross-stage checks the models cannot see: names, references, cycles, loops, paths.

They read the resolved YAML data defensively (not the validated model), so they
still run when some stage failed validation: every problem in a file is
reported at once, each at the position that caused it.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from orchestrator.errors import DiagnosticSink
from orchestrator.spec.locate import locate
from orchestrator.spec.models import IDENT_RE
from orchestrator.spec.outputs import output_names
from orchestrator.spec.params import references
from orchestrator.spec.suggest import did_you_mean

_IDENT = re.compile(IDENT_RE)


def _map(node: Any, *keys: str) -> dict:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _list(node: Any, key: str) -> list:
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, list) else []


def _needs(raw: Any) -> dict[str, list]:
    return {name: _list(stage, "needs") for name, stage in _map(raw, "stages").items()}


def check_workflow(raw: Any, sink: DiagnosticSink) -> None:
    """Run every cross-stage check on the resolved document."""
    _check_names(raw, sink)
    _check_needs(raw, sink)
    _check_cycles(raw, sink)
    _check_sweep_refs(raw, sink)
    _check_outputs(raw, sink)
    _check_stage_refs(raw, sink)
    _check_loops(raw, sink)


def _check_names(raw: Any, sink: DiagnosticSink) -> None:
    for section in ("params", "stages", "loops"):
        for name in _map(raw, section):
            if not _IDENT.match(name):
                sink.error(locate(raw, (section, name), key=True), f"{section}.{name}",
                           "names must be identifiers (letters, digits and '_', not first a digit)")
    for name in set(_map(raw, "loops")) & set(_map(raw, "stages")):
        sink.error(locate(raw, ("loops", name), key=True), f"loops.{name}",
                   "a loop cannot have the same name as a stage")


def _check_needs(raw: Any, sink: DiagnosticSink) -> None:
    stages = _map(raw, "stages")
    for name, needs in _needs(raw).items():
        seen: set[str] = set()
        for i, need in enumerate(needs):
            if not isinstance(need, str):
                continue  # the model reports the type
            where = locate(raw, ("stages", name, "needs", i))
            path = f"stages.{name}.needs[{i}]"
            if need == name:
                sink.error(where, path, "a stage cannot need itself")
            elif need not in stages:
                sink.error(where, path, f"unknown stage {need!r}", did_you_mean(need, stages))
            elif need in seen:
                sink.error(where, path, f"{need!r} is listed twice")
            seen.add(need)


def _check_cycles(raw: Any, sink: DiagnosticSink) -> None:
    """Report each dependency cycle once, at the `needs` entry that closes it."""
    graph = _needs(raw)
    state: dict[str, int] = {}
    stack: list[str] = []
    reported: set[frozenset] = set()

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for i, need in enumerate(graph[name]):
            if not isinstance(need, str) or need not in graph or need == name:
                continue
            if state.get(need) == 1:
                cycle = stack[stack.index(need):]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    sink.error(locate(raw, ("stages", name, "needs", i)),
                               f"stages.{name}.needs[{i}]",
                               "dependency cycle: " + " -> ".join([*cycle, need]))
            elif need not in state:
                visit(need)
        stack.pop()
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name)


def _strings(node: Any, path: tuple):
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, (*path, i))


def _check_sweep_refs(raw: Any, sink: DiagnosticSink) -> None:
    for name, stage in _map(raw, "stages").items():
        sweep = _map(stage, "sweep")
        names = set(_map(sweep, "values")) | set(_map(sweep, "sample", "space"))
        for field in ("args", "shell", "outputs", "env"):
            value = stage.get(field) if isinstance(stage, dict) else None
            for path, text in _strings(value, ("stages", name, field)):
                for ref in references(text, "sweep"):
                    if ref not in names:
                        hint = did_you_mean(ref, names) or (
                            f"this stage sweeps: {', '.join(sorted(names))}" if names
                            else "this stage has no sweep")
                        sink.error(locate(raw, path), ".".join(map(str, path)),
                                   f"unknown sweep variable {ref!r}", hint)
        python = stage.get("python") if isinstance(stage, dict) else None
        if isinstance(python, str) and "${" in python:
            sink.error(locate(raw, ("stages", name, "python")), f"stages.{name}.python",
                       "the callable cannot be interpolated")


def _check_outputs(raw: Any, sink: DiagnosticSink) -> None:
    for name, stage in _map(raw, "stages").items():
        outputs = stage.get("outputs") if isinstance(stage, dict) else None
        items = outputs.items() if isinstance(outputs, dict) else enumerate(_list(stage, "outputs"))
        for i, out in items:
            shown = f"stages.{name}.outputs" + (f".{i}" if isinstance(i, str) else f"[{i}]")
            problem = path_problem(out) if isinstance(out, str) else None
            if isinstance(out, str) and references(out, "stages"):
                problem = "an output is a file this task writes; it cannot name another stage's"
            if problem:
                sink.error(locate(raw, ("stages", name, "outputs", i)), shown, problem)


def _check_stage_refs(raw: Any, sink: DiagnosticSink) -> None:
    """`${stages.S.outputs.O}`: S is a stage this one needs, O an output S declares."""
    stages = _map(raw, "stages")
    for name, stage in stages.items():
        needs = [n for n in _list(stage, "needs") if isinstance(n, str)]
        for field in ("args", "shell", "env"):
            value = stage.get(field) if isinstance(stage, dict) else None
            for path, text in _strings(value, ("stages", name, field)):
                for ref in references(text, "stages"):
                    problem = _stage_ref_problem(ref, name, needs, stages)
                    if problem:
                        sink.error(locate(raw, path), ".".join(map(str, path)), *problem)


def _stage_ref_problem(ref: str, name: str, needs: list[str],
                       stages: dict) -> tuple[str, str | None] | None:
    src, _, out = ref.split(".", 2)
    if src == name:
        return ("a stage cannot read its own outputs (they are files in its own directory)",
                None)
    if src not in stages:
        return f"unknown stage {src!r}", did_you_mean(src, stages)
    if src not in needs:
        return (f"{src!r} is not in this stage's needs, so its files may not exist yet",
                f"add it: needs: [{', '.join([*needs, src])}]")
    declared = stages[src].get("outputs") if isinstance(stages[src], dict) else None
    named, clashes = output_names(declared)
    if out in named:
        return None
    if out in clashes:
        return (f"{src!r} has several outputs named {out!r} by their stem",
                f"name them: outputs: {{{out}: PATH, ...}}")
    if not named:
        return f"stage {src!r} declares no outputs", f"add outputs: {{{out}: PATH}} to {src}"
    return (f"stage {src!r} has no output {out!r}",
            did_you_mean(out, named) or "its outputs: " + ", ".join(sorted(named)))


def path_problem(text: str) -> str | None:
    """Why a spec path could escape the task directory, or None if it is safe."""
    if not text or not text.strip():
        return "empty path"
    if "\x00" in text:
        return "path contains a NUL byte"
    p = PurePosixPath(text.replace("\\", "/"))
    if p.is_absolute() or re.match(r"^[A-Za-z]:", text) or text.startswith("~"):
        return f"{text!r} is absolute; outputs are relative to the task directory"
    if ".." in p.parts:
        return f"{text!r} leaves the task directory ('..' is not allowed)"
    return None


def _check_loops(raw: Any, sink: DiagnosticSink) -> None:
    stages = _map(raw, "stages")
    owner: dict[str, str] = {}
    for lname, loop in _map(raw, "loops").items():
        base = ("loops", lname)
        members: set[str] = set()
        for i, sname in enumerate(_list(loop, "stages")):
            if not isinstance(sname, str):
                continue
            where = locate(raw, (*base, "stages", i))
            if sname not in stages:
                sink.error(where, f"loops.{lname}.stages[{i}]", f"unknown stage {sname!r}",
                           did_you_mean(sname, stages))
            elif sname in owner:
                sink.error(where, f"loops.{lname}.stages[{i}]",
                           f"{sname!r} is already in loop {owner[sname]!r}")
            else:
                owner[sname] = lname
                members.add(sname)
        until = _map(loop, "until").get("stage")
        if isinstance(until, str) and until not in members:
            sink.error(locate(raw, (*base, "until", "stage")), f"loops.{lname}.until.stage",
                       f"{until!r} is not a stage of this loop", did_you_mean(until, members))
        for i, fb in enumerate(_list(loop, "feedback")):
            for key in ("from", "to"):
                value = fb.get(key) if isinstance(fb, dict) else None
                if isinstance(value, str) and value not in members:
                    sink.error(locate(raw, (*base, "feedback", i, key)),
                               f"loops.{lname}.feedback[{i}].{key}",
                               f"{value!r} is not a stage of this loop",
                               did_you_mean(value, members))
        _check_loop_closed(raw, lname, members, sink)


def _check_loop_closed(raw: Any, lname: str, members: set[str], sink: DiagnosticSink) -> None:
    """A stage outside the loop cannot sit between two of its stages."""
    graph = _needs(raw)
    downstream: dict[str, set[str]] = {n: set() for n in graph}
    for n, needs in graph.items():
        for need in needs:
            if isinstance(need, str) and need in downstream:
                downstream[need].add(n)
    reach: set[str] = set()
    frontier = [d for m in members for d in downstream[m] if d not in members]
    while frontier:
        n = frontier.pop()
        if n not in reach and n not in members:
            reach.add(n)
            frontier.extend(downstream[n])
    for m in members:
        for i, need in enumerate(graph[m]):
            if isinstance(need, str) and need in reach:
                sink.error(locate(raw, ("stages", m, "needs", i)), f"stages.{m}.needs[{i}]",
                           f"{need!r} is outside loop {lname!r} but runs after its stages; "
                           "add it to the loop or drop this need")
