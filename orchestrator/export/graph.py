"""The crate's JSON-LD graph: entities by `@id`, in the order they were first added, and
the small helpers every part of the export uses (references, times, file entities)."""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
from typing import Any
from urllib.parse import quote

from orchestrator.export.payload import Placed

RO_CRATE = "https://w3id.org/ro/crate/1.1"
WFRUN = "https://w3id.org/ro/terms/workflow-run#"
CONTEXT: list[Any] = [
    f"{RO_CRATE}/context",
    # Terms of the workflow-run vocabulary the RO-Crate 1.1 context lacks, mapped inline
    # so that reading the crate needs no second remote context.
    {"sha256": f"{WFRUN}sha256", "environment": f"{WFRUN}environment",
     "containerImage": f"{WFRUN}containerImage", "ContainerImage": f"{WFRUN}ContainerImage",
     "registry": f"{WFRUN}registry", "tag": f"{WFRUN}tag"},
]
PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": ("Process Run Crate", "0.5"),
    "https://w3id.org/ro/wfrun/workflow/0.5": ("Workflow Run Crate", "0.5"),
    "https://w3id.org/ro/wfrun/provenance/0.5": ("Provenance Run Crate", "0.5"),
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": ("Workflow RO-Crate", "1.0"),
}
_FORMATS = {".yaml": "application/yaml", ".yml": "application/yaml",
            ".json": "application/json", ".jsonl": "application/jsonl",
            ".py": "text/x-python", ".txt": "text/plain", ".csv": "text/csv"}


class Graph:
    """Entities by `@id`; adding one twice merges its properties (later ones win)."""

    def __init__(self) -> None:
        self.entities: dict[str, dict[str, Any]] = {}

    def add(self, entity: dict[str, Any]) -> dict[str, Any]:
        old = self.entities.get(entity["@id"])
        if old is None:
            self.entities[entity["@id"]] = entity
            return entity
        old.update(entity)
        return old

    def __contains__(self, eid: str) -> bool:
        return eid in self.entities

    def json(self) -> dict[str, Any]:
        return {"@context": CONTEXT, "@graph": list(self.entities.values())}


def ref(eid: str) -> dict[str, str]:
    return {"@id": eid}


def refs(ids: list[str]) -> list[dict[str, str]] | dict[str, str]:
    """References to `ids` (each once); one alone is a single value, as RO-Crate 1.1
    recommends."""
    out = [ref(i) for i in dict.fromkeys(ids)]
    return out[0] if len(out) == 1 else out


def local_id(kind: str, name: str) -> str:
    """`#kind-name`, the name percent-encoded (task ids hold `[`, `]`, `@`)."""
    return f"#{kind}-{quote(name, safe='')}"


def iso(ts: float | None) -> str | None:
    if not isinstance(ts, int | float):
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="milliseconds")


def encoding(name: str) -> str:
    for suffix, fmt in _FORMATS.items():
        if name.endswith(suffix):
            return fmt
    if name in ("stdout", "stderr"):
        return "text/plain"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def file_entity(p: Placed, name: str, description: str | None = None,
                types: str | list[str] = "File", mtime_ns: int | None = None,
                **extra: Any) -> dict[str, Any]:
    """A File (data entity) for a placed file: its size, SHA-256 and format, and where it
    was in the run directory when it was not copied."""
    e: dict[str, Any] = {"@id": p.id, "@type": types, "name": name,
                         "encodingFormat": encoding(name)}
    if p.rel != name:
        e["alternateName"] = p.rel
    if p.size is not None:
        e["contentSize"] = str(p.size)
    if p.sha256:
        e["sha256"] = p.sha256
    if mtime_ns is not None:
        e["dateModified"] = iso(mtime_ns / 1e9)
    text = " ".join(x for x in (description, p.note and f"({p.note})") if x)
    if text:
        e["description"] = text
    e.update({k: v for k, v in extra.items() if v is not None})
    return e


def short_json(value: Any, limit: int = 2000) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"
