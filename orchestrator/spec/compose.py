"""`extends` and `include`: merge template files into one document, safely.

A reference is a relative path (to the including file), a name found on the
template search path, or `SOURCE:NAME[@VERSION]`, a template of a pinned source
(spec/lock.py resolves it and checks it against the workflow's lock file). Absolute
paths, paths that leave the allowed roots and include cycles are errors; every file
merged in is recorded with its hash (and, from a source, the source's name, tag and
commit).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import Diagnostic, Loc, SpecError
from orchestrator.spec.sources import parse_reference
from orchestrator.spec.suggest import did_you_mean
from orchestrator.spec.yamlio import YDict, YList, load_yaml_file

BUILTIN_TEMPLATES = Path(__file__).resolve().parents[2] / "workflows" / "templates"


@dataclass(frozen=True)
class Source:
    """A file that went into a resolved spec (recorded as `sources` in plan JSON and in
    RUN_DIR/spec.json; docs/templates.md#provenance)."""

    path: str
    sha256: str
    version: str | None = None
    """The file's own `version:` (templates declare one)."""
    template: str | None = None
    """Its template name when it was found on the template search path or in a source."""
    source: str | None = None
    """The name of the template source (orch-templates.yaml) it came from, if any."""
    url: str | None = None
    """That source's repository or directory (a local path made absolute)."""
    ref: str | None = None
    """The tag (or commit) of the source it was taken at; None for a directory source."""
    commit: str | None = None
    """The commit of the source (a directory source: the sha256 of its content)."""

    def to_json(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass(frozen=True)
class Requirement:
    """What one file of the spec says it `requires` of a site."""

    file: str
    template: str | None
    devices: tuple[str, ...] = ()
    environments: tuple[tuple[str, Loc | None], ...] = ()


def template_roots(extra: list[Path] | None = None) -> list[Path]:
    """Template search path: ORCH_TEMPLATE_PATH entries, then the shipped templates."""
    roots = [Path(p) for p in (extra or [])]
    env = os.environ.get("ORCH_TEMPLATE_PATH", "")
    roots += [Path(p) for p in env.split(os.pathsep) if p]
    if BUILTIN_TEMPLATES.is_dir():
        roots.append(BUILTIN_TEMPLATES)
    return [r.resolve() for r in roots]


def display_name(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Composer:
    """Loads a spec file and everything it extends or includes."""

    def __init__(self, roots: list[Path], resolver: Any = None):
        self.roots = roots
        self.resolver = resolver
        """spec.lock.SourceResolver for `SOURCE:NAME` references (made on first use)."""
        self.sources: list[Source] = []
        self.requirements: list[Requirement] = []

    def load(self, path: Path) -> YDict:
        path = path.resolve()
        if self.resolver is None:
            from orchestrator.spec.lock import SourceResolver

            self.resolver = SourceResolver(path)
        return self._load(path, (path,), allowed=[path.parent, *self.roots])

    def _load(self, path: Path, stack: tuple[Path, ...], allowed: list[Path],
              origin: Any = None) -> YDict:
        name = display_name(path)
        doc = load_yaml_file(path, name)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if origin is not None:
            self.resolver.loaded(origin, path, sha)
        if all(s.path != name for s in self.sources):
            version = doc.get("version") if isinstance(doc, YDict) else None
            version = version if isinstance(version, str) else None
            if origin is not None:
                self.sources.append(Source(
                    name, sha, version, origin.template if path == origin.main else None,
                    origin.source.name, origin.url, origin.ref, origin.commit))
            else:
                self.sources.append(Source(name, sha, version, self._template_name(path)))
            if isinstance(doc, YDict) and "requires" in doc:
                self._requirement(doc, name, origin.template if origin is not None and
                                  path == origin.main else self._template_name(path))
        if not isinstance(doc, YDict):
            raise SpecError([Diagnostic(getattr(doc, "loc", None) or Loc(name, 1, 1), "",
                                        "a workflow file must be a mapping of keys")])
        refs: list[tuple[str, Any, Loc]] = []
        if "extends" in doc:
            refs.append(("extends", doc["extends"], doc.value_locs["extends"]))
        if "include" in doc:
            items = doc["include"]
            if not isinstance(items, YList):
                raise SpecError([Diagnostic(doc.value_locs["include"], "include",
                                            "expected a list of paths")])
            refs += [(f"include[{i}]", v, items.item_locs[i]) for i, v in enumerate(items)]
        base = YDict(doc.loc)
        for label, ref, loc in refs:
            part = self._resolve_ref(label, ref, loc, path, stack, allowed, origin)
            base = merge(base, part)
        own = YDict(doc.loc)
        for key, value in doc.items():
            if key not in ("extends", "include"):
                _put(own, key, value, doc.key_locs[key], doc.value_locs[key])
        return merge(base, own)

    def _requirement(self, doc: YDict, name: str, template: str | None) -> None:
        """`requires: [gpu]` or `requires: {devices: [gpu], environments: [dpgen]}` of one
        file, with positions (the merged spec keeps only the last file's)."""
        req = doc["requires"]
        devices: list[Any] = []
        envs: list[tuple[str, Loc | None]] = []
        if isinstance(req, YList):
            devices = list(req)
        elif isinstance(req, YDict):
            devices = list(req.get("devices") or []) if isinstance(req.get("devices"), list) \
                else []
            items = req.get("environments")
            if isinstance(items, YList):
                envs = [(v, items.item_locs[i]) for i, v in enumerate(items)
                        if isinstance(v, str)]
        self.requirements.append(Requirement(name, template,
                                             tuple(d for d in devices if isinstance(d, str)),
                                             tuple(envs)))

    def _template_name(self, path: Path) -> str | None:
        """`NAME` for ROOT/NAME.yaml or ROOT/NAME/template.yaml on the search path."""
        for root in self.roots:
            if path.parent == root and path.suffix == ".yaml":
                return path.stem
            if path.name == "template.yaml" and path.parent.parent == root:
                return path.parent.name
        return None

    def _resolve_ref(self, label: str, ref: Any, loc: Loc, here: Path,
                     stack: tuple[Path, ...], allowed: list[Path], origin: Any) -> YDict:
        params: YDict | None = None
        if isinstance(ref, YDict):
            unknown = [k for k in ref if k not in ("path", "params")]
            if unknown:
                raise SpecError([Diagnostic(ref.key_locs[unknown[0]], f"{label}.{unknown[0]}",
                                            f"unknown key {unknown[0]!r}",
                                            hint=did_you_mean(unknown[0], ["path", "params"]))])
            params = ref.get("params")
            if params is not None and not isinstance(params, YDict):
                raise SpecError([Diagnostic(ref.value_locs["params"], f"{label}.params",
                                            "expected a mapping of param values")])
            ref = ref.get("path")
        if not isinstance(ref, str) or not ref:
            raise SpecError([Diagnostic(loc, label, "expected a relative path or template name")])
        source_ref = parse_reference(ref, loc, label)
        child = None
        if source_ref is not None:
            child = self.resolver.resolve(source_ref, loc, label)
            target = child.main
            allowed = [*allowed, child.tree]
        else:
            target = self._find(label, ref, loc, here, allowed)
            if origin is not None and _inside(target, origin.tree):
                child = origin  # a file of the same source: part of that template's content
        if target in stack:
            chain = " -> ".join(display_name(p) for p in (*stack, target))
            raise SpecError([Diagnostic(loc, label, f"include cycle: {chain}")])
        part = self._load(target, (*stack, target), allowed, child)
        if source_ref is not None:
            self.resolver.finish_reference(child, loc, label)
        if params:
            _set_params(part, params, label)
        return part

    def _find(self, label: str, ref: str, loc: Loc, here: Path, allowed: list[Path]) -> Path:
        if "\x00" in ref:
            raise SpecError([Diagnostic(loc, label, "path contains a NUL byte")])
        if os.path.isabs(ref) or ref.startswith("~"):
            raise SpecError([Diagnostic(loc, label, f"{ref!r}: absolute paths are not allowed; "
                                        "use a path relative to this file or a template name")])
        candidates = [here.parent / ref]
        for root in self.roots:
            candidates += [root / ref, root / f"{ref}.yaml", root / ref / "template.yaml"]
        escaped = None
        for cand in candidates:
            try:
                real = cand.resolve()
                if not real.is_file():
                    continue
            except (OSError, ValueError):
                continue
            if any(real.is_relative_to(a) for a in allowed):
                return real
            escaped = real
        if escaped is not None:
            raise SpecError([Diagnostic(loc, label, f"{ref!r} resolves to {escaped}, outside the "
                                        "workflow's directory and the template search path")])
        raise SpecError([Diagnostic(loc, label, f"{ref!r} not found next to this file or on the "
                                    "template search path (ORCH_TEMPLATE_PATH)")])


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False


def merge(base: Any, over: Any) -> Any:
    """Deep merge: mappings merge key by key, anything else in `over` replaces `base`."""
    if not (isinstance(base, YDict) and isinstance(over, YDict)):
        return over
    out = YDict(over.loc or base.loc)
    for key, value in base.items():
        _put(out, key, value, base.key_locs.get(key), base.value_locs.get(key))
    for key, value in over.items():
        merged = merge(out[key], value) if key in out else value
        _put(out, key, merged, over.key_locs.get(key), over.value_locs.get(key))
    return out


def _put(d: YDict, key: str, value: Any, key_loc: Loc | None, value_loc: Loc | None) -> None:
    d[key] = value
    if key_loc is not None:
        d.key_locs[key] = key_loc
    if value_loc is not None:
        d.value_locs[key] = value_loc


def _set_params(part: YDict, values: YDict, label: str) -> None:
    """Apply `include: [{path, params}]` values as the included file's param defaults."""
    declared = part.get("params")
    if not isinstance(declared, YDict):
        declared = YDict(part.loc)
        _put(part, "params", declared, None, None)
    errors = []
    for name, value in values.items():
        if name not in declared:
            errors.append(Diagnostic(values.key_locs[name], f"{label}.params.{name}",
                                     "the template has no such param",
                                     hint=did_you_mean(name, declared)))
            continue
        current = declared[name]
        if isinstance(current, YDict):
            new = YDict(current.loc)
            for k, v in current.items():
                _put(new, k, v, current.key_locs.get(k), current.value_locs.get(k))
            _put(new, "default", value, values.key_locs[name], values.value_locs[name])
            _put(declared, name, new, declared.key_locs.get(name), declared.value_locs.get(name))
        else:
            _put(declared, name, value, values.key_locs[name], values.value_locs[name])
    if errors:
        raise SpecError(errors)
