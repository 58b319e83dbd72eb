"""Template sources: the project file `orch-templates.yaml` and `SOURCE:NAME@VERSION`.

A project names the git repositories (or plain directories) its templates come from in
`orch-templates.yaml`, next to its workflows, each pinned to a tag or commit (a
directory: to its content hash). A workflow then writes `include: labA:relax@v1`
(or `labA:relax`, which follows the project's pin). Fetching and the cache are in
`spec/fetch.py`, the lock file in `spec/lock.py` (docs/templates.md#template-sources).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.errors import Diagnostic, Loc, SpecError, UserError
from orchestrator.spec.suggest import did_you_mean
from orchestrator.spec.yamlio import YDict, load_yaml_file

PROJECT_FILE = "orch-templates.yaml"
SOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_REF_CHARS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+/-]{0,127}$")
_HEX = re.compile(r"^[0-9a-f]{7,64}$")
_REFERENCE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*):([^@]*)(?:@(.*))?$")
KINDS = ("git", "dir")


@dataclass(frozen=True)
class SourceRef:
    """`SOURCE:NAME[@VERSION]` as written in `include:` or `extends:`."""

    source: str
    name: str
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.source}:{self.name}" + (f"@{self.version}" if self.version else "")


def check_ref(ref: str) -> str | None:
    """Why `ref` is not an acceptable tag or commit name (None when it is). Refs reach git
    as one argument each, never through a shell; this keeps options and odd names out."""
    if not _REF_CHARS.match(ref):
        return ("a tag or commit is letters, digits and '._+/-', starting with a letter "
                "or digit (at most 128)")
    if ".." in ref or "//" in ref or ref.endswith(("/", ".", ".lock")) or "/." in ref:
        return "not a valid git tag or commit name"
    return None


def is_hex(ref: str) -> bool:
    return bool(_HEX.match(ref))


def parse_reference(text: str, loc: Loc | None = None, label: str = "") -> SourceRef | None:
    """A source reference, None for a path or plain template name; a malformed one is an
    error. `labA:relax@v1` is one; `sub/a:b.yaml` (a path) is not."""
    m = _REFERENCE.match(text)
    if m is None:
        return None
    source, name, version = m.group(1), m.group(2), m.group(3)
    problem = None
    if not SOURCE_NAME.match(source):
        problem = f"source name {source!r}: a letter, then letters, digits, '_' or '-'"
    elif not TEMPLATE_NAME.match(name):
        problem = (f"template name {name!r}: letters, digits, '_', '.' or '-' (no path: "
                   "a source's templates are found by name)")
    elif version is not None and check_ref(version):
        problem = f"version {version!r}: {check_ref(version)}"
    if problem:
        raise SpecError([Diagnostic(loc, label, f"{text!r} is not SOURCE:NAME[@VERSION]: "
                                    f"{problem}")])
    return SourceRef(source, name, version or None)


@dataclass(frozen=True)
class TemplateSource:
    """One entry of `orch-templates.yaml`."""

    name: str
    url: str
    """As written: a path (relative to the project file's directory) or a git URL."""
    kind: str
    """`git` (a repository, pinned to a tag or commit) or `dir` (a plain directory,
    pinned to the sha256 of its content)."""
    ref: str | None
    """The tag or commit the project is pinned to (git); None for a directory."""
    commit: str
    """What `ref` resolved to when it was added or updated (a directory: its content
    hash)."""
    path: str = ""
    """Where the templates are inside the source (default: its top)."""
    loc: Loc | None = field(default=None, compare=False)

    @property
    def version(self) -> str:
        """The pin as people read it: the tag, or a short commit or content hash."""
        return self.ref if self.ref and not is_hex(self.ref) else self.commit[:12]

    def location(self, project_dir: Path) -> str:
        """The URL, or the local path made absolute against the project directory."""
        if is_url(self.url):
            return self.url
        return str((project_dir / Path(self.url).expanduser()).resolve())

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "kind": self.kind, "ref": self.ref,
                "commit": self.commit, "path": self.path}


def is_url(text: str) -> bool:
    """A remote git location (`https://…`, `ssh://…`, `git@host:path`), not a local path."""
    return "://" in text or bool(re.match(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:", text))


@dataclass
class Project:
    """The template sources of the workflows in one directory."""

    dir: Path
    sources: dict[str, TemplateSource] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.dir / PROJECT_FILE

    def get(self, name: str, loc: Loc | None = None, label: str = "") -> TemplateSource:
        src = self.sources.get(name)
        if src is not None:
            return src
        from orchestrator.spec.compose import display_name

        where = (f"{display_name(self.file)} names no source {name!r}" if self.file.is_file() else
                 f"no template source {name!r}: there is no {PROJECT_FILE} next to the workflow")
        hint = did_you_mean(name, self.sources) or (
            f"sources: {', '.join(self.sources)}" if self.sources else
            f"add one with `orch templates add {name} REPOSITORY --ref TAG`")
        raise SpecError([Diagnostic(loc, label, where, hint=hint)])

    def with_source(self, src: TemplateSource) -> Project:
        return Project(self.dir, {**self.sources, src.name: replace(src, loc=None)})

    def text(self) -> str:
        lines = ["# Template sources of the workflows in this directory, each pinned to a tag",
                 "# or commit (a directory: its content hash). Written by `orch templates add`",
                 "# and `orch templates update`; commit it with the workflows' *.lock.yaml",
                 "# files (docs/templates.md#template-sources).",
                 "sources:" + ("" if self.sources else " {}")]
        for name in sorted(self.sources):
            s = self.sources[name]
            lines.append(f"  {name}:")
            lines.append(f"    url: {json.dumps(s.url)}")
            lines.append(f"    kind: {s.kind}")
            if s.ref is not None:
                lines.append(f"    ref: {json.dumps(s.ref)}")
            lines.append(f"    commit: {json.dumps(s.commit)}")
            if s.path:
                lines.append(f"    path: {json.dumps(s.path)}")
        return "\n".join(lines) + "\n"

    def save(self) -> None:
        from orchestrator.state.atomic import atomic_write_text

        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.file, self.text())
        except OSError as exc:
            raise UserError(f"{self.file}: cannot write ({exc.strerror or exc})") from None


_KEYS = ("url", "kind", "ref", "commit", "path")


def load_project(directory: Path) -> Project:
    """The project file in `directory` (an empty project when there is none)."""
    directory = directory.resolve()
    path = directory / PROJECT_FILE
    if not path.is_file():
        return Project(directory)
    from orchestrator.spec.compose import display_name

    doc = load_yaml_file(path, display_name(path))
    errors: list[Diagnostic] = []
    sources: dict[str, TemplateSource] = {}
    top = doc.loc if isinstance(doc, YDict) else Loc(display_name(path), 1, 1)
    if not isinstance(doc, YDict) or not isinstance(doc.get("sources", {}), dict):
        raise SpecError([Diagnostic(top, "sources", "expected `sources:` with one mapping "
                                    "per source (url, kind, ref, commit)")])
    for key in doc:
        if key != "sources":
            errors.append(Diagnostic(doc.key_locs[key], key, f"unknown key {key!r}",
                                     hint=did_you_mean(key, ["sources"])))
    raw = doc.get("sources") or YDict(top)
    for name, entry in raw.items():
        where = raw.key_locs.get(name, top) if isinstance(raw, YDict) else top
        label = f"sources.{name}"
        if not isinstance(name, str) or not SOURCE_NAME.match(name):
            errors.append(Diagnostic(where, label, "a source name is a letter, then letters, "
                                     "digits, '_' or '-'"))
            continue
        if not isinstance(entry, YDict):
            errors.append(Diagnostic(where, label, "expected a mapping (url, kind, ref, commit)"))
            continue
        bad = [k for k in entry if k not in _KEYS]
        for k in bad:
            errors.append(Diagnostic(entry.key_locs[k], f"{label}.{k}", f"unknown key {k!r}",
                                     hint=did_you_mean(k, _KEYS)))
        values = {k: entry.get(k) for k in _KEYS}
        for k, v in values.items():
            if v is not None and not isinstance(v, str):
                errors.append(Diagnostic(entry.value_locs[k], f"{label}.{k}", "expected a string"))
        if any(not isinstance(v, str | None) for v in values.values()) or bad:
            continue
        problem = _entry_problem(values)
        if problem:
            key, message = problem
            at = entry.value_locs.get(key) or entry.loc or where
            errors.append(Diagnostic(at, f"{label}.{key}", message))
            continue
        sources[name] = TemplateSource(name, values["url"], values["kind"], values["ref"],
                                       values["commit"], (values["path"] or "").strip("/"),
                                       where)
    if errors:
        raise SpecError(errors)
    return Project(directory, sources)


def _entry_problem(v: dict[str, str | None]) -> tuple[str, str] | None:
    if not v["url"]:
        return "url", "required: the repository (a path or git URL) or directory"
    if v["url"].startswith("-"):
        return "url", "must not start with '-'"
    if v["kind"] not in KINDS:
        return "kind", f"one of {', '.join(KINDS)}"
    if not v["commit"] or not is_hex(v["commit"]):
        return "commit", "required: the full commit (or content hash) the pin resolved to"
    if v["kind"] == "git":
        if not v["ref"]:
            return "ref", "required for a git source: the tag or commit it is pinned to"
        if check_ref(v["ref"]):
            return "ref", check_ref(v["ref"]) or ""
    elif v["ref"] is not None:
        return "ref", "a directory source is pinned to its content hash (commit), not a ref"
    path = v["path"] or ""
    if path.startswith("/") or any(p in ("..", "") for p in path.strip("/").split("/") if path):
        return "path", "a relative folder inside the source, without '..'"
    return None
