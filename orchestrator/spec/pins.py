"""`orch templates add` and `orch templates update`: pin template sources, move pins.

`add_source` records a repository or directory in the project's orch-templates.yaml,
pinned to a tag or commit (a directory: its content hash). `update_sources` moves pins
deliberately: to the newest tag (or `--ref`), rewrites the `SOURCE:NAME@OLD` references
of the project's workflows that named the old pin, and rewrites their lock files, all or
nothing (docs/templates.md#orch-templates-update).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import Diagnostic, Loc, SpecError, UserError
from orchestrator.spec.fetch import (
    DirSnapshot,
    FetchError,
    GitMirror,
    content_files,
    file_sha256,
    is_git_repo,
)
from orchestrator.spec.lock import LOCK_SUFFIX, Lock, LockEntry, SourceResolver
from orchestrator.spec.sources import (
    PROJECT_FILE,
    SOURCE_NAME,
    Project,
    TemplateSource,
    check_ref,
    is_hex,
    is_url,
    load_project,
    parse_reference,
)
from orchestrator.spec.yamlio import YDict, YList, load_yaml_text


def source_templates(base: Path) -> list[str]:
    """Template names in a source folder: NAME.yaml and NAME/template.yaml."""
    if not base.is_dir():
        return []
    names = {p.stem for p in base.glob("*.yaml") if p.is_file() and not p.name.startswith(".")
             and not p.name.endswith(LOCK_SUFFIX) and p.name != PROJECT_FILE}
    names |= {p.parent.name for p in base.glob("*/template.yaml") if p.is_file()}
    return sorted(names)


# ---- add ------------------------------------------------------------------------------------
def add_source(project_dir: Path, name: str, location: str, ref: str | None = None,
               subdir: str = "", force: bool = False) -> tuple[TemplateSource, list[str]]:
    """Fetch the source, pin it and record it; its template names."""
    if not SOURCE_NAME.match(name):
        raise UserError(f"{name!r}: a source name is a letter, then letters, digits, '_' or "
                        "'-' (at most 64)")
    project = load_project(project_dir)
    if name in project.sources and not force:
        raise UserError(f"{project.file.name} already has a source {name!r} "
                        f"({project.sources[name].url}); `orch templates update {name}` moves "
                        "its pin, --force replaces it")
    if location.startswith("-"):
        raise UserError(f"{location!r}: a source must not start with '-'")
    subdir = subdir.strip("/")
    if subdir and (subdir.startswith("/") or ".." in subdir.split("/")):
        raise UserError(f"--path {subdir!r}: a relative folder inside the source, without '..'")
    if ref is not None and check_ref(ref):
        raise UserError(f"--ref {ref!r}: {check_ref(ref)}")
    url, where = _stored_location(location, project.dir)
    try:
        if is_url(location) or is_git_repo(Path(where)):
            src, tree = _pin_git(name, url, where, ref, subdir)
        elif Path(where).is_dir():
            if ref is not None:
                raise UserError(f"{location} is a plain directory, pinned to its content "
                                "hash; --ref is for git repositories")
            commit, tree = DirSnapshot(where).current()
            src = TemplateSource(name, url, "dir", None, commit, subdir)
        else:
            raise UserError(f"{location}: no such directory or git repository")
    except FetchError as exc:
        raise UserError([Diagnostic(None, "", f"source {name!r}: {d.message}", hint=d.hint)
                         for d in exc.diagnostics]) from None
    names = source_templates(tree / subdir if subdir else tree)
    if not names:
        raise UserError(f"{location} at {src.version}{' folder ' + subdir if subdir else ''} "
                        "has no templates (NAME.yaml or NAME/template.yaml); --path names the "
                        "folder that holds them")
    project.with_source(src).save()
    return src, names


def _stored_location(location: str, project_dir: Path) -> tuple[str, str]:
    """(as recorded: a URL, or a path relative to the project when given relative;
    where it is now)."""
    if is_url(location):
        return location, location
    path = Path(location).expanduser()
    absolute = path.resolve()
    if path.is_absolute() or location.startswith("~"):
        return str(absolute), str(absolute)
    return os.path.relpath(absolute, project_dir), str(absolute)


def _pin_git(name: str, url: str, where: str, ref: str | None,
             subdir: str) -> tuple[TemplateSource, Path]:
    mirror = GitMirror(where)
    mirror.ensure(refresh=True)
    if ref is None:
        tags = mirror.tags()
        if not tags:
            raise UserError(f"{url} has no tags: pin a commit with --ref COMMIT (or tag a "
                            "release)")
        ref = tags[0]
    commit = mirror.resolve(ref)
    return TemplateSource(name, url, "git", ref, commit, subdir), mirror.tree(commit)


# ---- update ---------------------------------------------------------------------------------
@dataclass
class Move:
    """One source's pin, before and after."""

    name: str
    kind: str
    old_version: str
    old_commit: str
    version: str
    commit: str
    note: str = ""

    @property
    def moved(self) -> bool:
        return self.old_commit != self.commit

    def to_json(self) -> dict[str, Any]:
        return {"source": self.name, "kind": self.kind, "old_version": self.old_version,
                "old_commit": self.old_commit, "version": self.version, "commit": self.commit,
                "moved": self.moved, "note": self.note}


@dataclass
class WorkflowUpdate:
    workflow: Path
    lock: Path
    rewritten: list[dict[str, Any]] = field(default_factory=list)
    """`{"at": "FILE:LINE:COL", "old": ref, "new": ref}` per reference rewritten."""
    templates: list[dict[str, Any]] = field(default_factory=list)
    """Per locked template of an updated source: reference, old reference, versions,
    commits, and `changed`/`added`/`removed` files."""
    kept: list[dict[str, Any]] = field(default_factory=list)
    """References naming another version than the old pin: left as written."""
    lock_changed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"workflow": str(self.workflow), "lock": str(self.lock),
                "rewritten": self.rewritten, "templates": self.templates, "kept": self.kept,
                "lock_changed": self.lock_changed}


def update_sources(project_dir: Path, names: list[str] | None = None, ref: str | None = None,
                   dry_run: bool = False) -> tuple[list[Move], list[WorkflowUpdate]]:
    project = load_project(project_dir)
    if not project.file.is_file():
        raise UserError(f"{project.dir}: no {PROJECT_FILE} here; `orch templates add NAME "
                        "SOURCE` records a source first")
    chosen = names or sorted(project.sources)
    for n in chosen:
        project.get(n)
    if ref is not None and len(chosen) != 1:
        raise UserError("--ref moves one source: name it (orch templates update NAME --ref REF)")
    if ref is not None and check_ref(ref):
        raise UserError(f"--ref {ref!r}: {check_ref(ref)}")
    moves, new = [], dict(project.sources)
    for n in chosen:
        old = project.sources[n]
        try:
            src, note = _new_pin(project, old, ref)
        except FetchError as exc:
            raise UserError([Diagnostic(old.loc, f"sources.{n}", d.message, hint=d.hint)
                             for d in exc.diagnostics]) from None
        new[n] = src
        moves.append(Move(n, old.kind, old.version, old.commit, src.version, src.commit, note))
    updated = Project(project.dir, new)
    workflows = _project_workflows(project.dir)
    if dry_run:
        return moves, [_preview(wf, lock, updated, moves) for wf, lock in workflows]
    return moves, _apply(project, updated, workflows, moves, set(chosen))


def _new_pin(project: Project, old: TemplateSource, ref: str | None) -> tuple[TemplateSource, str]:
    where = old.location(project.dir)
    if old.kind == "dir":
        if ref is not None:
            raise FetchError(f"{old.name} is a directory source: pinned to its content hash, "
                             "it takes no --ref")
        commit, _ = DirSnapshot(where).current()
        return TemplateSource(old.name, old.url, "dir", None, commit, old.path), ""
    mirror = GitMirror(where)
    mirror.ensure(refresh=True)
    note = ""
    if ref is None:
        if is_hex(old.ref or ""):
            ref, note = old.ref, "pinned to a commit: --ref moves it"
        else:
            tags = mirror.tags()
            ref = tags[0] if tags else old.ref
            if ref == old.ref:
                note = "the newest tag"
    assert ref is not None
    return TemplateSource(old.name, old.url, "git", ref, mirror.resolve(ref), old.path), note


def _project_workflows(directory: Path) -> list[tuple[Path, Path]]:
    """(workflow, lock) for each lock file in the directory whose workflow is there."""
    out = []
    for lock in sorted(directory.glob(f"*{LOCK_SUFFIX}")):
        stem = lock.name[: -len(LOCK_SUFFIX)]
        for ext in (".yaml", ".yml"):
            if (directory / f"{stem}{ext}").is_file():
                out.append((directory / f"{stem}{ext}", lock))
                break
    return out


def _references(workflow: Path) -> list[tuple[str, Loc]]:
    """The source references a workflow file itself writes, with their positions."""
    from orchestrator.spec.compose import display_name

    doc = load_yaml_text(workflow.read_text(encoding="utf-8"), display_name(workflow))
    if not isinstance(doc, YDict):
        return []
    items: list[tuple[object, Loc | None]] = []
    if "extends" in doc:
        items.append((doc["extends"], doc.value_locs.get("extends")))
    inc = doc.get("include")
    if isinstance(inc, YList):
        items += [(v, inc.item_locs[i]) for i, v in enumerate(inc)]
    out = []
    for value, loc in items:
        if isinstance(value, YDict) and isinstance(value.get("path"), str):
            value, loc = value["path"], value.value_locs.get("path")
        if isinstance(value, str) and loc is not None:
            try:
                if parse_reference(value) is not None:
                    out.append((value, loc))
            except SpecError:
                continue
    return out


def _rewrites(workflow: Path, moves: list[Move], old: Project,
              new: Project) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """References `SOURCE:NAME@V` where V is the old pin of a moved source: to the new pin.
    Others naming a version stay as written (`kept`)."""
    moved = {m.name for m in moves if m.moved}
    rewritten, kept = [], []
    for text, loc in _references(workflow):
        ref = parse_reference(text)
        if ref is None or ref.source not in moved or ref.version is None:
            continue
        before, after = old.sources[ref.source], new.sources[ref.source]
        if ref.version == before.ref or (is_hex(ref.version)
                                         and before.commit.startswith(ref.version)):
            version = after.ref if after.kind == "git" else after.commit[:12]
            rewritten.append({"at": str(loc), "loc": loc, "old": text,
                              "new": f"{ref.source}:{ref.name}@{version}"})
        else:
            kept.append({"at": str(loc), "reference": text,
                         "note": f"names {ref.version}, not the pin {before.version}: left as "
                                 "written"})
    return rewritten, kept


def _rewrite_text(text: str, changes: list[dict[str, Any]]) -> str:
    lines = text.splitlines(keepends=True)
    # right to left, so that a rewrite does not move the next one on the same line
    for c in sorted(changes, key=lambda c: (c["loc"].line, c["loc"].col), reverse=True):
        loc: Loc = c["loc"]
        line = lines[loc.line - 1]
        i = line.find(c["old"], loc.col - 1)
        if i not in (loc.col - 1, loc.col):  # at the scalar, or just inside its quote
            raise UserError(f"{c['at']}: cannot rewrite {c['old']!r} in place; change it to "
                            f"{c['new']!r} by hand and run `orch templates update` again")
        lines[loc.line - 1] = line[:i] + c["new"] + line[i + len(c["old"]):]
    return "".join(lines)


def _apply(old: Project, new: Project, workflows: list[tuple[Path, Path]], moves: list[Move],
           chosen: set[str]) -> list[WorkflowUpdate]:
    """Write the new pins, rewritten references and new locks; on any error put every
    file back as it was."""
    from orchestrator.spec.compose import Composer, template_roots
    from orchestrator.state.atomic import atomic_write_text

    backups: dict[Path, str | None] = {old.file: old.file.read_text(encoding="utf-8")}
    for wf, lock in workflows:
        backups[wf] = wf.read_text(encoding="utf-8")
        backups[lock] = lock.read_text(encoding="utf-8") if lock.is_file() else None
    out = []
    try:
        new.save()
        for wf, lock in workflows:
            rewritten, kept = _rewrites(wf, moves, old, new)
            if rewritten:
                atomic_write_text(wf, _rewrite_text(backups[wf] or "", rewritten))
            before = Lock.read(lock).entries
            resolver = SourceResolver(wf, update=chosen)
            Composer(template_roots(), resolver).load(wf)
            resolver.finish()
            out.append(WorkflowUpdate(wf, lock, [{k: v for k, v in r.items() if k != "loc"}
                                                 for r in rewritten],
                                      _lock_changes(before, resolver.used, chosen), kept,
                                      before != resolver.used))
    except (UserError, OSError) as exc:
        for path, text in backups.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write_text(path, text)
        if isinstance(exc, OSError):
            raise UserError(f"cannot update: {exc}") from None
        raise type(exc)([*exc.diagnostics, Diagnostic(
            None, "", "orch templates update changed nothing: the workflows must load with "
            "the new versions (see above)")]) from None
    return out


def _lock_changes(before: dict[str, LockEntry], after: dict[str, LockEntry],
                  chosen: set[str]) -> list[dict[str, Any]]:
    out = []
    for key, entry in sorted(after.items()):
        if entry.source not in chosen:
            continue
        prev = before.get(key) or next((e for k, e in sorted(before.items())
                                        if e.source == entry.source
                                        and e.template == entry.template), None)
        prev_key = key if key in before else next(
            (k for k, e in sorted(before.items()) if e is prev), None)
        out.append(_entry_change(key, prev_key, prev, entry.version, entry.commit, entry.files))
    return out


def _entry_change(key: str, prev_key: str | None, prev: LockEntry | None, version: str,
                  commit: str, files: dict[str, str] | None) -> dict[str, Any]:
    old_files = prev.files if prev else {}
    files = files or {}
    return {"reference": key, "old_reference": prev_key,
            "old_version": prev.version if prev else None,
            "old_commit": prev.commit if prev else None,
            "version": version, "commit": commit,
            "changed": sorted(f for f in files if f in old_files and files[f] != old_files[f]),
            "added": sorted(f for f in files if f not in old_files),
            "removed": sorted(f for f in old_files if f not in files)}


def _preview(wf: Path, lock: Path, new: Project, moves: list[Move]) -> WorkflowUpdate:
    """What `update` would change, without writing: each locked template of a moved
    source compared, file by file, with its content at the new pin (own files only)."""
    moved = {m.name: m for m in moves if m.moved}
    old = load_project(wf.parent)
    rewritten, kept = _rewrites(wf, moves, old, new)
    result = WorkflowUpdate(wf, lock, [{k: v for k, v in r.items() if k != "loc"}
                                       for r in rewritten], [], kept)
    for key, entry in sorted(Lock.read(lock).entries.items()):
        if entry.source not in moved:
            continue
        src = new.sources[entry.source]
        ref = parse_reference(key)
        follows = ref is not None and (ref.version is None or any(
            r["old"] == key for r in rewritten))
        if not follows:
            continue
        files = _template_files(new, src, entry.template)
        new_key = next((r["new"] for r in rewritten if r["old"] == key), key)
        result.templates.append(_entry_change(new_key, key, entry, src.version, src.commit,
                                              files))
    return result


def _template_files(project: Project, src: TemplateSource, name: str) -> dict[str, str] | None:
    where = src.location(project.dir)
    tree = (DirSnapshot(where).tree(src.commit) if src.kind == "dir"
            else GitMirror(where).tree(src.commit))
    base = tree / src.path if src.path else tree
    if (base / name / "template.yaml").is_file():
        return content_files(tree, base / name)
    single = base / f"{name}.yaml"
    if single.is_file():
        return {single.relative_to(tree).as_posix(): file_sha256(single)}
    return None
