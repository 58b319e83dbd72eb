"""The lock file of a workflow, and resolving `SOURCE:NAME@VERSION` references through it.

`WORKFLOW.lock.yaml` beside `WORKFLOW.yaml` records, for every template the workflow
takes from a source (docs/templates.md#the-lock-file), the source, the tag, the commit
and the sha256 of every file of the template. Loading a workflow uses the locked commit
(a moved tag changes nothing) and checks the content: a difference is an error at the
`include`/`extends` that names the template. A reference that is not locked yet is
resolved through the project's pin and added; `orch templates update` moves pins and
rewrites locks deliberately.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestrator.errors import Diagnostic, Loc, SpecError, UserError
from orchestrator.spec.fetch import (
    DirSnapshot,
    FetchError,
    GitMirror,
    cache_root,
    content_files,
    digest,
    file_sha256,
    inside,
)
from orchestrator.spec.sources import (
    Project,
    SourceRef,
    TemplateSource,
    is_hex,
    load_project,
)
from orchestrator.spec.suggest import did_you_mean
from orchestrator.spec.yamlio import YDict, load_yaml_file

LOCK_SUFFIX = ".lock.yaml"
LOCK_VERSION = 1


def lock_path(workflow: Path) -> Path:
    """`study/workflow.yaml` -> `study/workflow.lock.yaml`."""
    return workflow.with_name(workflow.name.rsplit(".", 1)[0] + LOCK_SUFFIX)


@dataclass(frozen=True)
class LockEntry:
    """One template a workflow takes from a source, as it was when locked."""

    source: str
    url: str
    kind: str
    ref: str | None
    commit: str
    template: str
    path: str
    """The template's file, relative to the top of the source."""
    sha256: str
    """`digest(files)`: one hash over every file below."""
    files: dict[str, str] = field(default_factory=dict)
    """{path relative to the top of the source: sha256}: every file of the template (all
    of a directory template's folder) and every file it includes from the source."""

    @property
    def version(self) -> str:
        return self.ref if self.ref and not is_hex(self.ref) else self.commit[:12]


@dataclass
class Lock:
    path: Path
    entries: dict[str, LockEntry] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Lock:
        if not path.is_file():
            return cls(path)
        from orchestrator.spec.compose import display_name

        name = display_name(path)
        doc = load_yaml_file(path, name)
        fix = ("it is written by orch: restore it from version control, or delete it and "
               "load the workflow again to lock the current pins")
        raw = doc.get("templates") if isinstance(doc, YDict) else None
        if not isinstance(raw, dict):
            raise SpecError([Diagnostic(getattr(doc, "loc", None) or Loc(name, 1, 1), "templates",
                                        "not a lock file (expected `templates:`)", hint=fix)])
        entries = {}
        for key, e in raw.items():
            try:
                files = {str(k): str(v) for k, v in (e.get("files") or {}).items()}
                entries[str(key)] = LockEntry(
                    str(e["source"]), str(e["url"]), str(e["kind"]),
                    None if e.get("ref") is None else str(e["ref"]), str(e["commit"]),
                    str(e["template"]), str(e["path"]), str(e["sha256"]), files)
            except (AttributeError, KeyError, TypeError):
                at = raw.key_locs.get(key) if isinstance(raw, YDict) else None
                raise SpecError([Diagnostic(at or Loc(name, 1, 1), f"templates.{key}",
                                            "incomplete lock entry (source, url, kind, ref, "
                                            "commit, template, path, sha256, files)",
                                            hint=fix)]) from None
        return cls(path, entries)

    def text(self) -> str:
        lines = ["# The template versions this workflow was checked against: written by orch",
                 "# (on first use of a template, and by `orch templates update`). Commit it;",
                 "# do not edit it (docs/templates.md#the-lock-file).",
                 f"lockVersion: {LOCK_VERSION}",
                 "templates:" + ("" if self.entries else " {}")]
        for key in sorted(self.entries):
            e = asdict(self.entries[key])
            files = e.pop("files")
            lines.append(f"  {json.dumps(key)}:")
            lines += [f"    {k}: {json.dumps(v)}" for k, v in e.items()]
            lines.append("    files:" + ("" if files else " {}"))
            lines += [f"      {json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(files.items())]
        return "\n".join(lines) + "\n"

    def save(self) -> None:
        from orchestrator.state.atomic import atomic_write_text

        try:
            atomic_write_text(self.path, self.text())
        except OSError as exc:
            raise UserError(f"{self.path}: cannot write the lock file "
                            f"({exc.strerror or exc})") from None


@dataclass
class Origin:
    """A template found in a source, for the composer: where its files are and which
    version they are. `files` grows as the composer loads files of the source."""

    reference: str
    source: TemplateSource
    url: str
    ref: str | None
    commit: str
    tree: Path
    main: Path
    template: str
    own: dict[str, str]
    files: dict[str, str]
    locked: LockEntry | None


class SourceResolver:
    """Resolves source references for one top-level workflow, checks them against its
    lock and collects what the lock should hold. `update`: sources whose pins were just
    moved (`orch templates update`): their locked entries are replaced, and their files
    unpacked afresh."""

    def __init__(self, workflow: Path, update: set[str] | None = None):
        self.workflow = workflow.resolve()
        self.update = set(update or ())
        self._project: Project | None = None
        self._lock: Lock | None = None
        self.used: dict[str, LockEntry] = {}
        self.writable = not inside(self.workflow, cache_root())
        self._unpacked: set[tuple[str, str]] = set()

    @property
    def project(self) -> Project:
        if self._project is None:
            self._project = load_project(self.workflow.parent)
        return self._project

    @property
    def lock(self) -> Lock:
        if self._lock is None:
            self._lock = Lock.read(lock_path(self.workflow))
        return self._lock

    def _error(self, loc: Loc | None, label: str, message: str, hint: str | None = None):
        return SpecError([Diagnostic(loc, label, message, hint=hint)])

    def resolve(self, ref: SourceRef, loc: Loc | None, label: str) -> Origin:
        key = str(ref)
        src = self.project.get(ref.source, loc, label)
        lockname = self.lock.path.name
        entry = None if ref.source in self.update else self.lock.entries.get(key)
        update_hint = f"`orch templates update {ref.source}` moves the pin and rewrites the lock"
        if entry is not None:
            if ref.version is None and entry.commit != src.commit:
                raise self._error(loc, label, f"{key}: {lockname} has it at {entry.version} "
                                  f"(commit {entry.commit[:12]}) but {self.project.file.name} "
                                  f"pins {src.name} at {src.version} (commit {src.commit[:12]})",
                                  update_hint)
            commit, eff_ref = entry.commit, entry.ref
        elif ref.version is None or ref.version == src.ref or (
                is_hex(ref.version) and src.commit.startswith(ref.version)):
            commit, eff_ref = src.commit, src.ref
        elif src.kind == "dir":
            raise self._error(loc, label, f"{key}: source {src.name!r} is a directory, pinned "
                              f"at content {src.commit[:12]}; it has no other versions",
                              f"write {ref.source}:{ref.name}, or {update_hint}")
        else:
            commit, eff_ref = self._fetch(lambda: self._mirror(src).resolve(ref.version),
                                          loc, label, key), ref.version
        tree = self._fetch(lambda: self._tree(src, commit), loc, label, key)
        base = tree / src.path if src.path else tree
        main = self._find(ref, src, base, tree, loc, label)
        if main.name == "template.yaml" and main.parent != base:
            own = content_files(tree, main.parent)
        else:
            own = {main.relative_to(tree).as_posix(): file_sha256(main)}
        origin = Origin(key, src, src.location(self.project.dir), eff_ref, commit, tree, main,
                        ref.name, own, dict(own), entry)
        if entry is not None:
            self._check(origin, entry, loc, label)
        return origin

    def _mirror(self, src: TemplateSource) -> GitMirror:
        return GitMirror(src.location(self.project.dir))

    def _tree(self, src: TemplateSource, commit: str) -> Path:
        if src.kind == "dir":
            return DirSnapshot(src.location(self.project.dir)).tree(commit)
        fresh = src.name in self.update and (src.name, commit) not in self._unpacked
        self._unpacked.add((src.name, commit))
        return self._mirror(src).tree(commit, fresh=fresh)

    def _fetch(self, fn, loc, label, key):
        try:
            return fn()
        except FetchError as exc:
            raise self._error(loc, label, f"{key}: "
                              + "; ".join(d.message for d in exc.diagnostics)) from None

    def _find(self, ref: SourceRef, src: TemplateSource, base: Path, tree: Path,
              loc: Loc | None, label: str) -> Path:
        for cand in (base / f"{ref.name}.yaml", base / ref.name / "template.yaml"):
            if cand.is_file() and not cand.is_symlink():
                if not inside(cand, tree):  # pragma: no cover - archives hold no such links
                    raise self._error(loc, label, f"{ref}: leads outside the source")
                return cand
        names = sorted({p.stem for p in base.glob("*.yaml") if not p.is_symlink()}
                       | {p.parent.name for p in base.glob("*/template.yaml")
                          if not p.is_symlink()})
        where = f"{src.name} ({src.url}" + (f", folder {src.path}" if src.path else "") + \
            f", {src.version})"
        raise self._error(loc, label, f"{ref}: source {where} has no template {ref.name!r}",
                          did_you_mean(ref.name, names) or
                          (f"its templates: {', '.join(names)}" if names else
                           "it has no templates (NAME.yaml or NAME/template.yaml)"))

    def _check(self, origin: Origin, entry: LockEntry, loc: Loc | None, label: str) -> None:
        """Every locked file as locked, and no file of the template that the lock lacks."""
        changed = []
        for rel, sha in entry.files.items():
            path = origin.tree / rel
            if rel in origin.own:
                now = origin.own[rel]
            else:
                now = file_sha256(path) if path.is_file() and inside(path, origin.tree) else None
            if now != sha:
                changed.append(f"{rel} {'changed' if now else 'is missing'}")
        changed += [f"{rel} is new" for rel in origin.own if rel not in entry.files]
        if changed:
            more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
            raise self._error(
                loc, label, f"{origin.reference}: the template's content differs from "
                f"{self.lock.path.name} ({entry.version}, commit {entry.commit[:12]}): "
                f"{changed[0]}{more}",
                f"`orch templates update {origin.source.name}` accepts a new version "
                f"deliberately; to restore the locked content, delete {origin.tree} and "
                "load the workflow again")

    def loaded(self, origin: Origin, path: Path, sha256: str) -> None:
        """The composer loaded `path` while composing `origin` (a file of its source)."""
        rel = path.relative_to(origin.tree).as_posix()
        origin.files[rel] = sha256

    def finish_reference(self, origin: Origin, loc: Loc | None, label: str) -> None:
        """After the template and what it includes are loaded: lock it (or check that what
        it included from its source is locked)."""
        if origin.locked is not None:
            extra = [rel for rel in origin.files if rel not in origin.locked.files]
            if extra:
                raise self._error(loc, label, f"{origin.reference}: includes {extra[0]}, which "
                                  f"{self.lock.path.name} does not record",
                                  f"`orch templates update {origin.source.name}`")
            self.used[origin.reference] = origin.locked
            return
        files = dict(sorted(origin.files.items()))
        self.used[origin.reference] = LockEntry(
            origin.source.name, origin.source.url, origin.source.kind, origin.ref,
            origin.commit, origin.template, origin.main.relative_to(origin.tree).as_posix(),
            digest(files), files)

    def finish(self) -> list[str]:
        """Write the lock when what the workflow uses differs from it; what was added."""
        if not self.writable or (not self.used and not self.lock.path.is_file()):
            return []
        if self.used == self.lock.entries:
            return []
        Lock(self.lock.path, dict(self.used)).save()
        return [f"{key} ({e.version}, commit {e.commit[:12]})" for key, e in self.used.items()
                if key not in self.lock.entries]
