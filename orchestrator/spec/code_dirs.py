"""Where each python stage's code is: the directory of the file that set its `python:`.

A template that carries its own helper module (`workflows/templates/deepmd-train/` with
`deepmd_train.py` beside `template.yaml`) runs it from there, wherever the including
workflow lives; a workflow that sets `python:` itself runs its own module. When the file
that set the key has no such module beside it (a template's placeholder, or an installed
module), the workflow's directory is used, as it always was. Decided when the spec is
loaded, from the positions the loader keeps, and carried by the plan (`code_dir`), so
the worker imports and the task key hashes the same directory.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.spec.locate import locate
from orchestrator.spec.models import Workflow
from orchestrator.spec.yamlio import YDict


def has_module(target: str, directory: Path) -> bool:
    """Whether `module:function`'s module is a file (or package) in `directory`."""
    rel = Path(*target.split(":", 1)[0].split("."))
    return (directory / f"{rel}.py").is_file() or (directory / rel / "__init__.py").is_file()


def stage_code_dirs(raw: YDict, workflow: Workflow, workflow_dir: Path) -> dict[str, Path]:
    """Stage name -> the directory its python module is imported from (python stages)."""
    out: dict[str, Path] = {}
    for name, stage in workflow.stages.items():
        if stage.python is None:
            continue
        loc = locate(raw, ("stages", name, "python"), exact=True)
        out[name] = workflow_dir
        if loc is None or loc.file.startswith("<"):
            continue
        # a location's file is its display name: relative to the cwd the spec was loaded in
        here = Path(loc.file).resolve().parent
        if here != workflow_dir and has_module(stage.python, here):
            out[name] = here
    return out
