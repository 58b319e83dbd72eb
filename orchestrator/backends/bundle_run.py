"""What runs on a worker for a bundle: many sweep points of one stage in one engine task.

Each point runs exactly as it would alone (`worker.run_task`: its own directory, captured
output, its record appended to the worker's results file) and the bundle returns one entry
per point: the point's record (JSON) or the exception it ended with, so the driver journals,
retries and reports every point on its own. A point that fails does not stop the others.

A bundle launched again after its worker was lost (Parsl numbers the retry in the payload)
first reads the run's results files: points that finished before the loss are returned from
there, not run twice. This module must not import Parsl.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

from orchestrator.backends.shell_bundle import plain, run_shell_bundle
from orchestrator.backends.task_binding import env_of
from orchestrator.backends.task_io import task_env
from orchestrator.backends.worker import TaskFailure, _placed, run_task
from orchestrator.state.results import iter_results


def run_bundle(bundle: dict[str, Any] | str, inputs: list[Any] = (),
               parsl_resource_specification: dict[str, Any] | None = None) -> list[Any]:
    """Run the points of `bundle` ({"points": [payload], "counts": inputs per point, or None
    when every point reads all of `inputs`}) one after the other."""
    if isinstance(bundle, str):
        bundle = json.loads(bundle)
    points = bundle["points"]
    counts = bundle.get("counts")
    done = _recorded(points, bundle["run_dir"]) if (bundle.get("attempt") or 1) > 1 else {}
    todo = [p for p in points if p["key"] not in done]
    if todo and all(plain(p) for p in todo):  # one bash for them all (shell_bundle.py)
        ran = dict(zip((p["key"] for p in todo),
                       run_shell_bundle(todo, parsl_resource_specification), strict=True))
        return [done.get(p["key"]) or ran[p["key"]] for p in points]
    out: list[Any] = []
    pos = 0
    spec = parsl_resource_specification or {}
    try:  # the bundle holds its node share once, for all its points
        first = todo[0] if todo else points[0]
        with _placed(first, spec) as grant, \
                task_env(env_of({"placement": first.get("placement")}, grant)):
            for i, payload in enumerate(points):  # (each point's env: only what differs)
                if counts is None:
                    mine = inputs
                else:
                    mine = inputs[pos:pos + counts[i]]
                    pos += counts[i]
                hit = done.get(payload["key"])
                if hit is not None:
                    out.append(hit)
                    continue
                try:
                    out.append(run_task(payload, mine, spec, held=grant))
                except Exception as exc:
                    out.append(portable(exc))
    except TaskFailure as exc:  # the share can never fit here: every point fails so
        return [done.get(p["key"]) or portable(TaskFailure(str(exc))) for p in points]
    return out


def portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling (the bundle's return value is pickled back to the
    driver), else a TaskFailure with its type and message (its traceback is already in
    the task's stderr)."""
    exc.__traceback__ = None
    exc.__context__ = exc.__cause__ = None
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return TaskFailure(f"{type(exc).__name__}: {exc}")
    return exc


def _recorded(points: list[dict[str, Any]], run_dir: str) -> dict[str, str]:
    """Records (JSON) of this bundle's points already in the run's results files."""
    keys = {p["key"] for p in points}
    return {r["key"]: json.dumps(r, separators=(",", ":"))
            for r in iter_results(run_dir) if r["key"] in keys}
