"""Layout of a run directory; the only code that knows file names inside it.

```
runs/<workflow>-<timestamp>/
  run.json          how the run was started (workflow path, site, --set values)
  spec.json         the resolved spec (after templates and params)
  plan.json         the plan, as `orch plan --format json` prints it
  journal.jsonl     task events (the truth for status and resume)
  tasks/<task-id>/  cwd of the task: stdout, stderr, declared outputs
  results/          per-worker start and result lines (state/results.py): --resume, live states
  parsl/            Parsl's own run files and logs
  .lock             held (flock) by the one driver running it (state/lock.py)
  submit.json       `orch submit`: the driver's batch jobs, one per chain link
  submit/           the driver's batch script and each job's output
```
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError
from orchestrator.state.atomic import atomic_write_text
from orchestrator.state.journal import JOURNAL_NAME

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@\[\]-]")


def task_dirname(task_id: str) -> str:
    """Task ids are `stage`, `stage[3]`, `stage[3]@2`; keep them readable but safe."""
    return _UNSAFE.sub("_", task_id)


SUBMIT_NAME = "submit.json"  # `orch submit`'s record of the driver's jobs
SUBMIT_DIR = "submit"  # the driver's batch script and its jobs' output
_SCAFFOLD = {".lock", "tasks", SUBMIT_NAME, SUBMIT_DIR}  # what exists before run.json


def check_new_run_dir(path: Path | None) -> None:
    """`--run-dir` names a new or empty folder: writing a run into one that holds other
    files would mix them with the run's (and `--resume` would not recognise it)."""
    if path is None or not path.exists():
        return
    if (path / "run.json").exists():
        raise UserError(f"{path} already holds a run; continue it with --resume {path} "
                        "or choose another --run-dir")
    if not path.is_dir():
        raise UserError(f"--run-dir {path}: exists and is not a folder; "
                        "choose another --run-dir")
    extra = sorted(p.name for p in path.iterdir()
                   if p.name not in _SCAFFOLD or (p.name == "tasks" and any(p.iterdir())))
    if extra:
        shown = ", ".join(extra[:5]) + (", ..." if len(extra) > 5 else "")
        raise UserError(f"--run-dir {path}: the folder is not empty ({shown}) and is not a run "
                        "directory (no run.json); choose a new or empty folder, or remove "
                        "what is in it")



def _made(path: Path) -> bool:
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        return False
    return True


@dataclass(frozen=True)
class RunDir:
    path: Path

    @classmethod
    def create(cls, workflow: str, base: Path | None = None, path: Path | None = None) -> RunDir:
        if path is None:  # a name of our own: never one another `orch run` just made
            stamp = time.strftime("%Y%m%d-%H%M%S")
            root = base or Path("runs")
            path = root / f"{workflow}-{stamp}"
            n = 1
            while not _made(path):
                n += 1
                path = root / f"{workflow}-{stamp}-{n}"
        path.mkdir(parents=True, exist_ok=True)
        (path / "tasks").mkdir(exist_ok=True)
        return cls(path.resolve())

    @property
    def journal(self) -> Path:
        return self.path / JOURNAL_NAME

    @property
    def parsl_dir(self) -> Path:
        return self.path / "parsl"

    def task_dir(self, task_id: str) -> Path:
        return self.path / "tasks" / task_dirname(task_id)

    def write_json(self, name: str, data: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2, default=str) + "\n")

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    def exists(self) -> bool:
        return (self.path / "run.json").is_file()
