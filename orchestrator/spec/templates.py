"""The template library: find, describe and instantiate shareable workflow templates.

Templates are specs on the template search path (`ORCH_TEMPLATE_PATH`, then the
shipped `workflows/templates`), named as `include:` finds them: `ROOT/NAME.yaml`
or `ROOT/NAME/template.yaml`. The first root that has a name wins, as it does
when a workflow includes it. `starter` writes a workflow that includes one with
the user's values (see docs/templates.md). Never imports Parsl.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import Diagnostic, DiagnosticSink, SpecError, UserError
from orchestrator.spec.compose import Composer, display_name, template_roots
from orchestrator.spec.load import LoadedSpec, load_spec
from orchestrator.spec.lock import LOCK_SUFFIX
from orchestrator.spec.models import Param
from orchestrator.spec.params import param_models, param_type
from orchestrator.spec.sources import PROJECT_FILE, parse_reference
from orchestrator.spec.suggest import did_you_mean
from orchestrator.spec.yamlio import load_yaml_file

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


@dataclass
class TemplateInfo:
    """A template file and what its header declares (read without validating it)."""

    name: str
    """The reference `include:` and `orch templates new` take: file stem or directory name."""
    path: Path
    root: Path
    version: str | None = None
    description: str = ""
    requires: list[str] = field(default_factory=list)
    """Device classes (`requires: [gpu]` or `requires: {devices: [gpu]}`)."""
    environments: list[str] = field(default_factory=list)
    """Site environments it needs (`requires: {environments: [dpgen]}`)."""
    example: Path | None = None
    """Its small complete example workflow (`example:`, or example.yaml beside a
    directory template's template.yaml); `orch templates test` runs it."""
    example_error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)
    sha256: str = ""
    error: str | None = None
    shadows: list[Path] = field(default_factory=list)
    """Files of the same name further down the search path (never used)."""
    source: dict[str, Any] | None = None
    """For `SOURCE:NAME[@VERSION]`: source, url, ref and commit it was found at."""

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "description": self.description,
                "requires": self.requires, "environments": self.environments,
                "params": list(self.params), "stages": self.stages,
                "path": str(self.path), "sha256": self.sha256,
                "example": str(self.example) if self.example else None, "error": self.error,
                "shadows": [str(p) for p in self.shadows], "source": self.source}


def discover(roots: list[Path] | None = None) -> list[TemplateInfo]:
    """Every template on the search path, sorted by name."""
    found: dict[str, TemplateInfo] = {}
    for root in roots if roots is not None else template_roots():
        for name, path in _candidates(root):
            if name in found:
                found[name].shadows.append(path)
            else:
                found[name] = _read(name, path, root)
    return [found[n] for n in sorted(found)]


def _candidates(root: Path) -> list[tuple[str, Path]]:
    if not root.is_dir():
        return []
    out = []
    for entry in sorted(root.iterdir()):
        if entry.name.endswith(LOCK_SUFFIX) or entry.name == PROJECT_FILE:
            continue  # a project's files, when a project directory is on the search path
        if entry.is_file() and entry.suffix == ".yaml" and not entry.name.startswith("."):
            out.append((entry.stem, entry))
        elif entry.is_dir() and (entry / "template.yaml").is_file():
            out.append((entry.name, entry / "template.yaml"))
    return out


def _read(name: str, path: Path, root: Path) -> TemplateInfo:
    info = TemplateInfo(name, path.resolve(), root)
    try:
        data = path.read_bytes()
        info.sha256 = hashlib.sha256(data).hexdigest()
        doc = load_yaml_file(path, display_name(path))
    except (OSError, UserError) as exc:
        info.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return info
    if not isinstance(doc, dict):
        info.error = "not a mapping of keys"
        return info
    info.version = None if doc.get("version") is None else str(doc.get("version"))
    info.description = " ".join(str(doc.get("description") or "").split())
    req = doc.get("requires")
    if isinstance(req, dict):
        devices, envs = req.get("devices"), req.get("environments")
        info.requires = [str(r) for r in devices] if isinstance(devices, list) else []
        info.environments = [str(e) for e in envs] if isinstance(envs, list) else []
    else:
        info.requires = [str(r) for r in req] if isinstance(req, list) else []
    info.example, info.example_error = _example(path, doc.get("example"))
    params = doc.get("params")
    info.params = dict(params) if isinstance(params, dict) else {}
    stages = doc.get("stages")
    info.stages = list(stages) if isinstance(stages, dict) else []
    return info


def _example(path: Path, declared: Any) -> tuple[Path | None, str | None]:
    """The example workflow: `example: FILE` (relative to the template, inside its folder)
    or example.yaml beside a directory template's template.yaml."""
    if declared is None:
        beside = path.parent / "example.yaml"
        return (beside.resolve(), None) if path.name == "template.yaml" and beside.is_file() \
            else (None, None)
    if not isinstance(declared, str) or not declared or os.path.isabs(declared):
        return None, "example: expected a file name relative to the template"
    target = (path.parent / declared).resolve()
    if not target.is_relative_to(path.parent.resolve()):
        return None, f"example: {declared!r} leads out of the template's folder"
    if not target.is_file():
        return None, f"example: {declared!r}: no such file next to the template"
    return target, None


def find(name: str, roots: list[Path] | None = None) -> TemplateInfo:
    """A template by name on the search path, or `SOURCE:NAME[@VERSION]` from the sources
    of the project in the current directory."""
    if parse_reference(name) is not None:
        return _from_source(name)
    templates = discover(roots)
    for t in templates:
        if t.name == name:
            return t
    known = [t.name for t in templates]
    hint = did_you_mean(name, known) or (f"known: {', '.join(known)}" if known else
                                         "the search path has no templates")
    raise UserError([Diagnostic(None, "", f"no template named {name!r} on the template search "
                                "path (ORCH_TEMPLATE_PATH, then workflows/templates)", hint=hint)])


def _from_source(text: str) -> TemplateInfo:
    from orchestrator.spec.lock import SourceResolver
    from orchestrator.spec.sources import PROJECT_FILE as project_file

    ref = parse_reference(text)
    assert ref is not None
    resolver = SourceResolver(Path.cwd() / project_file)
    resolver.writable = False
    origin = resolver.resolve(ref, None, "")
    info = _read(str(ref), origin.main, origin.tree)
    info.source = {"source": origin.source.name, "url": origin.url, "ref": origin.ref,
                   "commit": origin.commit}
    return info


# ---- show ----------------------------------------------------------------------------------
def describe(info: TemplateInfo) -> dict[str, Any]:
    """Params (type, default, bounds, help) and stages, as declared after composition.

    Not validated as a whole, so a template whose params are required still shows."""
    doc, declared = _composed(info)
    params = [{"name": n, "type": param_type(p), "default": p.default,
               "required": p.required or (p.default is None and p.type is None),
               "min": p.min, "max": p.max, "choices": p.choices, "help": p.help}
              for n, p in declared.items()]
    raw_stages = doc.get("stages") if isinstance(doc.get("stages"), dict) else {}
    loops = doc.get("loops") if isinstance(doc.get("loops"), dict) else {}
    stages = [_stage_info(name, s, loops) for name, s in raw_stages.items()
              if isinstance(s, dict)]
    return {**info.summary(), "params": params, "stages": stages, "loops": list(loops),
            "params_schema": params_schema(info, declared)}


def _composed(info: TemplateInfo) -> tuple[Any, dict[str, Param]]:
    from orchestrator.spec.lock import SourceResolver

    resolver = SourceResolver(info.path)
    resolver.writable = False
    doc = Composer(template_roots(), resolver).load(info.path)
    sink = DiagnosticSink()
    declared = param_models(doc.get("params"), sink)
    sink.raise_if_any(SpecError)
    return doc, declared


_JSON_TYPES = {"int": "integer", "float": "number", "str": "string", "bool": "boolean",
               "path": "string"}


def params_schema(info: TemplateInfo, declared: dict[str, Param] | None = None
                  ) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the template's params, in the manner of nf-core's
    nextflow_schema.json: one property per param with its type, default, bounds, choices
    and help; `required` lists those without a default."""
    if declared is None:
        declared = _composed(info)[1]
    props: dict[str, Any] = {}
    required = []
    for name, p in declared.items():
        kind = param_type(p)
        prop: dict[str, Any] = {"type": _JSON_TYPES[kind]}
        if kind == "path":
            prop["format"] = "path"
        if p.help:
            prop["description"] = " ".join(p.help.split())
        if p.default is not None:
            prop["default"] = p.default
        if p.min is not None:
            prop["minimum"] = int(p.min) if kind == "int" and p.min.is_integer() else p.min
        if p.max is not None:
            prop["maximum"] = int(p.max) if kind == "int" and p.max.is_integer() else p.max
        if p.choices:
            prop["enum"] = list(p.choices)
        if p.required or (p.default is None and p.type is None):
            required.append(name)
        elif p.default is None:
            prop["type"] = [prop["type"], "null"]  # optional without a default: null
        props[name] = prop
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"orch-template:{info.name}" + (f"@{info.version}" if info.version else ""),
        "title": f"{info.name} params",
        "description": info.description or f"Params of template {info.name}.",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _stage_info(name: str, s: dict[str, Any], loops: dict[str, Any]) -> dict[str, Any]:
    sweep = s.get("sweep") if isinstance(s.get("sweep"), dict) else None
    names: list[str] | None = None
    if sweep is not None:
        sample = sweep.get("sample") if isinstance(sweep.get("sample"), dict) else {}
        names = [*(sweep.get("values") or {}), *(sample.get("space") or {})]
    res = s.get("resources") if isinstance(s.get("resources"), dict) else {}
    loop = next((n for n, lp in loops.items() if isinstance(lp, dict)
                 and name in (lp.get("stages") or [])), None)
    return {"name": name, "kind": "shell" if "shell" in s else "python",
            "target": s.get("shell", s.get("python")), "needs": list(s.get("needs") or []),
            "device": res.get("device", "cpu"), "sweep": names, "loop": loop,
            "outputs": list(s.get("outputs") or []), "description": s.get("description", "")}


# ---- new -----------------------------------------------------------------------------------
def typed_values(info: TemplateInfo, sets: dict[str, str]) -> tuple[dict[str, Any], LoadedSpec]:
    """The user's `--set` values, parsed and checked by the template's own param types."""
    spec = load_spec(info.path, sets)
    return {k: spec.params[k] for k in sets}, spec


def default_name(template: str, out: Path | None) -> str:
    """A workflow name from the output path (its directory for workflow.yaml)."""
    stem = None
    if out is not None:
        stem = out.parent.name if out.name in ("workflow.yaml", "workflow.yml") else out.stem
    candidate = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem or "").strip("-.")
    return candidate if candidate and _NAME.match(candidate) else f"my-{template}"


def starter(info: TemplateInfo, spec: LoadedSpec, values: dict[str, Any], name: str) -> str:
    """YAML text of a workflow that includes `info` with `values` as its param defaults."""
    if not _NAME.match(name) or len(name) > 128:
        raise UserError(f"--name {name!r}: a workflow name is a letter, then letters, digits, "
                        "'_', '.' or '-' (at most 128)")
    wf = spec.workflow
    lines = [f"# A workflow built on template {info.name!r}"
             + (f" (version {info.version})" if info.version else "") + ".",
             f"# Template file: {display_name(info.path)}",
             f"#   sha256 {info.sha256}",
             "# Its params and stages are merged under this file: change below only what",
             "# differs, key by key (docs/spec.md, Templates). Check with `orch validate`.",
             "apiVersion: orchestrator/v1",
             f"name: {_scalar(name)}",
             f"description: {_scalar(f'Built from template {info.name}.')}",
             "include:", f"  - path: {_scalar(info.name)}"]
    if values:
        lines.append("    params:")
        lines += [f"      {k}: {_scalar(v)}" for k, v in values.items()]
    rest = [k for k in spec.declared if k not in values]
    if rest:
        lines.append("    # other params, with the template's defaults (`orch templates show "
                     f"{info.name}`):")
        lines += [f"    #   {k}: {_scalar(spec.params.get(k))}" for k in rest]
    python = [(n, st) for n, st in wf.stages.items() if st.python is not None]
    shell = [n for n, st in wf.stages.items() if st.python is None]
    if python:
        lines += ["stages:", "  # the template's placeholder callables: point each at your "
                  "module:function", "  # (next to this file, or installed)"]
    else:
        lines.append("# stages: all from the template; override any key here "
                     "(stages: {NAME: {retries: 2}})")
    for sname, st in python:
        lines += [f"  {sname}:", f"    python: {_scalar(st.python)}"]
    for sname in shell:  # not copied: the template's command stays the template's
        lines.append(f"{'  # ' if python else '#   '}{sname}: runs the template's shell "
                     "command; set `shell:` here to replace it")
    return "\n".join(lines) + "\n"


def _scalar(v: Any) -> str:
    """A YAML 1.2 scalar (JSON is valid YAML 1.2 flow; infinities need YAML's spelling)."""
    if isinstance(v, float) and not math.isfinite(v):
        return ".nan" if math.isnan(v) else (".inf" if v > 0 else "-.inf")
    return json.dumps(v)


def check_starter(path: Path) -> LoadedSpec:
    """Load the written starter as `orch validate` would; a failure is reported as such."""
    try:
        return load_spec(path)
    except SpecError as exc:
        raise SpecError([*exc.diagnostics, Diagnostic(None, "", f"{path}: the starter workflow "
                                                      "does not validate (see above)")]) from None
