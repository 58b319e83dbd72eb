"""`orch export RUN --ro-crate DIR`: a Workflow Run RO-Crate of a run, from its run
directory alone (docs/provenance.md).

The crate conforms to RO-Crate 1.1 and the Provenance Run Crate 0.5 profile (which extends
Workflow Run Crate 0.5, Process Run Crate 0.5 and Workflow RO-Crate 1.0). It is written
into a temporary folder beside DIR and renamed into place, so DIR never holds half a
crate; an existing non-empty DIR is replaced only with `force`. Never imports Parsl.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError
from orchestrator.export.graph import PROFILES, RO_CRATE, Graph, file_entity, ref, refs
from orchestrator.export.payload import DEFAULT_MAX_COPY, SMALL, Payload
from orchestrator.export.prospective import describe_workflow
from orchestrator.export.retrospective import RUN, Retrospective
from orchestrator.export.run_record import RunRecord, load_run

METADATA = "ro-crate-metadata.json"
WORKFLOW_RO_CRATE = "https://w3id.org/workflowhub/workflow-ro-crate/1.0"
_RECORDS = {"run.json": "How the run was started: workflow, site, --set values, attempts.",
            "spec.json": "The resolved spec: templates merged, params substituted, sources "
                         "and code keys.",
            "plan.json": "The plan the run executed (`orch plan --format json`)."}

README = """# Run {run}: {workflow} on site {site} ({state})

A Workflow Run RO-Crate (Provenance Run Crate 0.5) written by `orch export --ro-crate`
from the run directory of an orchestrator run of {tasks} task(s).
`ro-crate-metadata.json` describes it all; the files:

- `workflow/`: the workflow file and the templates it is based on, and the Python code its
  stages ran, each checked against the SHA-256 (or code key) the run recorded
- `site/`: the site config the run used
- `run.json`, `spec.json`, `plan.json`, `journal.jsonl`: the run directory's own records
  (`orch status` reads them here as it does in a run directory)
- `tasks/<task>/`: the files each task wrote and its logs; files over the size limit (or
  all, with `--no-data`) are not copied but referenced by `file://` URI, with their SHA-256

Every task is a CreateAction with the files it read (`object`) and wrote (`result`).
See docs/provenance.md in orchestrator.
"""


@dataclass(frozen=True)
class ExportSummary:
    crate: Path
    state: str
    entities: int
    tasks: int
    copied: int
    copied_bytes: int
    referenced: int


def export_ro_crate(run_dir: Path, out_dir: Path, policy: str = SMALL,
                    max_copy: int = DEFAULT_MAX_COPY, force: bool = False,
                    license: str | None = None) -> ExportSummary:
    """`license`: an SPDX id (`CC-BY-4.0`) or a URL for the crate's content; without one the
    crate says that none was stated (RO-Crate requires the property)."""
    rec = load_run(run_dir)
    out = Path(os.path.abspath(out_dir))
    _check_target(out, rec.path, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        payload = Payload(staging, policy, max_copy)
        g = Graph()
        g.add({"@id": METADATA, "@type": "CreativeWork", "about": ref("./"),
               "conformsTo": refs([RO_CRATE, WORKFLOW_RO_CRATE])})
        g.add({"@id": "./", "@type": "Dataset"})
        records = _records(rec, payload, g)
        pro = describe_workflow(rec, payload, g)
        retro = Retrospective(rec, payload, g, pro)
        mentions = retro.build()
        readme = _readme(rec, staging, g)
        _root(rec, g, pro.workflow, [readme, *records, *pro.parts, *retro.parts], mentions)
        g.entities["./"]["license"] = ref(g.add(_license(license))["@id"])
        _write_metadata(staging / METADATA, g)
        os.chmod(staging, 0o777 & ~_umask())
        _swap(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    tasks = sum(1 for e in g.entities.values() if str(e["@id"]).startswith("#task-")
                and e.get("@type") == "CreateAction")
    return ExportSummary(out, rec.status.state, len(g.entities), tasks, payload.copied,
                         payload.copied_bytes, payload.referenced)


def _check_target(out: Path, run: Path, force: bool) -> None:
    if run == out or run.is_relative_to(out):
        raise UserError(f"--ro-crate {out}: the run directory {run} is inside it; "
                        "write the crate somewhere else")
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"--ro-crate {out}: exists and is not a folder; choose another DIR")
    held = sorted(p.name for p in out.iterdir())
    if held and not force:
        shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        raise UserError(f"--ro-crate {out}: the folder is not empty ({shown}); choose a new "
                        "or empty folder, or pass --force to replace it")


def _records(rec: RunRecord, payload: Payload, g: Graph) -> list[str]:
    """The run directory's own records, traces of the engine `about` the workflow run."""
    ids = []
    for name, text in _RECORDS.items():
        if (rec.path / name).is_file():
            placed = payload.record(rec.path / name, name)
            g.add(file_entity(placed, name, text, about=ref(RUN)))
            ids.append(placed.id)
    journal = rec.path / "journal.jsonl"
    if journal.is_file():
        placed = payload.data(journal, journal.name)
        g.add(file_entity(placed, journal.name, "The run's event journal (JSON lines, a CRC "
                          "per record): every task's submission, end, files and hashes.",
                          about=ref(RUN)))
        ids.append(placed.id)
    return ids


def _root(rec: RunRecord, g: Graph, main: str, parts: list[str], mentions: list[str]) -> None:
    st = rec.status
    for pid, (name, version) in PROFILES.items():
        g.add({"@id": pid, "@type": "CreativeWork", "name": name, "version": version})
    g.add({"@id": "./", "@type": "Dataset",
           "name": f"Run of {st.workflow or 'a workflow'} on site {st.site or '?'} ({st.state})",
           "description": f"Provenance of the orchestrator run {st.run_dir.name}: the workflow "
                          "and templates that made it, its params and site config, every task "
                          "as an action with the files it read and wrote (SHA-256) and how it "
                          "ended. Exported by `orch export --ro-crate`.",
           "datePublished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "conformsTo": refs(list(PROFILES)), "mainEntity": ref(main),
           "hasPart": refs([p for p in parts if p in g]), "mentions": refs(mentions)})


def _readme(rec: RunRecord, staging: Path, g: Graph) -> str:
    st = rec.status
    text = README.format(workflow=st.workflow, site=st.site, state=st.state,
                         run=st.run_dir.name, tasks=len(st.tasks))
    (staging / "README.md").write_text(text, encoding="utf-8")
    g.add({"@id": "README.md", "@type": "File", "name": "README.md", "about": ref("./"),
           "encodingFormat": "text/markdown", "contentSize": str(len(text.encode())),
           "description": "What this crate holds and how to read it."})
    return "README.md"


def _license(value: str | None) -> dict[str, Any]:
    if not value:
        return {"@id": "#license-not-stated", "@type": "CreativeWork",
                "name": "No license stated",
                "description": "Whoever exported this run stated no license for its content "
                               "(`orch export --license`); ask them before reusing it."}
    if "://" in value:
        return {"@id": value, "@type": "CreativeWork", "name": value}
    return {"@id": f"https://spdx.org/licenses/{value}", "@type": "CreativeWork", "name": value,
            "identifier": value}


def _write_metadata(path: Path, g: Graph) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(g.json(), f, indent=1, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _swap(staging: Path, out: Path) -> None:
    """Rename the finished crate into place; an existing DIR (checked empty, or --force)
    is moved aside first and removed once the new crate is there."""
    if not out.exists():
        os.rename(staging, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.rename(out, old / "crate")
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(old / "crate", out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
