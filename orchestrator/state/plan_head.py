"""plan.json without its task list: `orch status` of a 10^6-task run needs the stages,
loops and pools at the head of plan.json, not 10^6 task entries (hundreds of MB).

plan/export.iter_json writes the head's keys first and the task list after them, so
the head is the text before `, "tasks": [`. Each stage entry's task count and sweep
give its task ids (`stage[i]`, or `stage` unswept) in plan order: `plan_tasks` yields
them from the head as it would from the list. Anything else (an older or hand-written
plan.json) is read whole, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_MARK = b', "tasks": ['
_CHUNK = 1 << 20
_HEAD_MAX = 64 << 20


def read_plan_head(path: Path, warnings: list[str]) -> dict[str, Any]:
    """plan.json's head (no "tasks" key) or, failing that, the whole document; {} with a
    warning when it is unreadable, {} without one when there is none."""
    try:
        with open(path, "rb") as f:
            buf = b""
            while len(buf) < _HEAD_MAX:
                chunk = f.read(_CHUNK)
                if not chunk:
                    break
                buf += chunk
                at = buf.find(_MARK)
                if at >= 0:
                    head = _head(buf[:at])
                    if head is not None:
                        return head
                    break
    except FileNotFoundError:
        return {}
    except OSError:
        pass
    return _whole(path, warnings)


def _head(text: bytes) -> dict[str, Any] | None:
    try:
        head = json.loads(text + b"}")
    except ValueError:
        return None
    ok = isinstance(head, dict) and isinstance(head.get("stages"), list) and all(
        isinstance(s, dict) and isinstance(s.get("name"), str)
        and isinstance(s.get("tasks"), int) and isinstance(s.get("sweep"), list)
        for s in head["stages"])
    return head if ok else None


def _whole(path: Path, warnings: list[str]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        warnings.append(f"{path.name} is unreadable ({exc}); ignored")
        return {}
    if not isinstance(data, dict):
        warnings.append(f"{path.name} is not a JSON object; ignored")
        return {}
    return data


def plan_tasks(plan: dict[str, Any]) -> Iterator[tuple[int, str, str, str | None]]:
    """(position in plan order, id, stage, loop) of every planned task."""
    if "tasks" in plan:
        for i, p in enumerate(plan.get("tasks") or []):
            if isinstance(p, dict) and isinstance(p.get("id"), str):
                yield i, p["id"], str(p.get("stage") or p["id"]), p.get("loop")
        return
    i = 0
    for s in plan.get("stages") or []:
        name, count, loop = s["name"], s["tasks"], s.get("loop")
        if s["sweep"]:
            for k in range(count):
                yield i + k, f"{name}[{k}]", name, loop
        elif count:
            yield i, name, name, loop
        i += count
