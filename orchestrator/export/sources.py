"""The files that made a run, found again for an export: the workflow file and the
templates it extends or includes (spec.json `sources`: path, sha256, version, template
name, and whatever else a newer orch records about them), the site config (run.json), and
the Python code its stages ran.

A source's path was recorded relative to the directory `orch run` ran in (or absolute).
That directory is recovered from the workflow's absolute path in run.json; every file is
checked against the SHA-256 the run recorded before it is copied, so a crate never carries
a file that differs from the one that ran.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.export.run_record import RunRecord
from orchestrator.state.keys import code_files, code_hash, module_file

KNOWN_KEYS = ("path", "sha256", "version", "template")
SOURCES_DIR = "workflow"
SITE_DIR = "site"


@dataclass
class Source:
    """One recorded source file: where it is now (if found) and where it goes in the crate."""

    record: dict[str, Any]
    path: Path
    rel: str
    main: bool = False

    @property
    def sha256(self) -> str | None:
        v = self.record.get("sha256")
        return v if isinstance(v, str) else None

    @property
    def extras(self) -> dict[str, Any]:
        """Fields a newer orch records (template source name, commit, ...)."""
        return {k: v for k, v in self.record.items()
                if k not in KNOWN_KEYS and isinstance(v, str | int | float) and v != ""}


@dataclass
class Sources:
    workflow: Path | None
    """The workflow file run.json names (absolute), if recorded."""
    root: Path | None
    """The folder the crate's `workflow/` stands for: the deepest one holding every source."""
    files: list[Source] = field(default_factory=list)

    def crate_rel(self, path: Path) -> str | None:
        """Where a file under `root` goes in the crate."""
        if self.root is None:
            return None
        try:
            return f"{SOURCES_DIR}/{path.resolve().relative_to(self.root).as_posix()}"
        except ValueError:
            return None


def find_sources(rec: RunRecord) -> Sources:
    records = [s for s in rec.spec.get("sources") or rec.plan.get("sources") or []
               if isinstance(s, dict) and isinstance(s.get("path"), str)]
    wf = rec.meta.get("workflow")
    workflow = Path(wf) if isinstance(wf, str) and os.path.isabs(wf) else None
    ran_in = _run_cwd(workflow, records)
    found = [(s, _locate(s["path"], ran_in)) for s in records]
    if workflow is not None and not any(p == workflow for _, p in found):
        found.insert(0, ({"path": str(workflow)}, workflow))
    dirs = [p.parent for _, p in found]
    root = Path(os.path.commonpath(dirs)) if dirs else None
    out = Sources(workflow, root)
    for i, (s, p) in enumerate(found):
        rel = out.crate_rel(p) or f"{SOURCES_DIR}/{i}-{p.name}"
        out.files.append(Source(s, p, rel, main=(p == workflow)))
    if out.files and not any(f.main for f in out.files):
        out.files[0].main = True
    return out


def _run_cwd(workflow: Path | None, records: list[dict[str, Any]]) -> Path:
    """The folder `orch run` ran in: the workflow's absolute path less its recorded relative
    path; else this process's folder."""
    if workflow is not None:
        for s in records:
            rel = Path(s["path"])
            if not rel.is_absolute() and workflow.parts[-len(rel.parts):] == rel.parts:
                return Path(*workflow.parts[:-len(rel.parts)])
    return Path.cwd()


def _locate(recorded: str, ran_in: Path) -> Path:
    p = Path(recorded)
    return Path(os.path.normpath(p if p.is_absolute() else ran_in / p))


@dataclass
class StageCode:
    """The Python files a stage's code key covers, when they are unchanged since the run."""

    module: Path | None
    files: list[Path]
    unchanged: bool
    note: str | None


def stage_code(rec: RunRecord, stage: dict[str, Any], base_dir: Path | None) -> StageCode:
    """A python stage's code, checked against the code key the run recorded (spec.json
    `code`): copied only when hashing the files now gives the same key."""
    target = stage.get("target")
    if stage.get("kind") != "python" or not isinstance(target, str) or base_dir is None:
        return StageCode(None, [], False, None)
    recorded = (rec.spec.get("code") or {}).get(stage.get("name"))
    module = module_file(target.split(":", 1)[0], base_dir)
    if module is None:
        return StageCode(None, [], False, "its module was not found when exported")
    if recorded != code_hash(target, "python", base_dir):
        return StageCode(module, [], False, "its code changed since the run (the code key "
                         "differs), so it is not included")
    return StageCode(module, code_files(target, "python", base_dir), True, None)
