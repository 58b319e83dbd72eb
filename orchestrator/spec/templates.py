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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import Diagnostic, DiagnosticSink, SpecError, UserError
from orchestrator.spec.code_dirs import has_module
from orchestrator.spec.compose import Composer, display_name, template_roots
from orchestrator.spec.load import LoadedSpec, load_spec
from orchestrator.spec.params import param_models, param_type
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
    params: dict[str, Any] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)
    sha256: str = ""
    error: str | None = None
    shadows: list[Path] = field(default_factory=list)
    """Files of the same name further down the search path (never used)."""

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "description": self.description,
                "requires": self.requires, "params": list(self.params), "stages": self.stages,
                "path": str(self.path), "sha256": self.sha256, "error": self.error,
                "shadows": [str(p) for p in self.shadows]}


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
    if isinstance(req, dict):  # {devices: [...], environments: [...]}
        req = req.get("devices")
    info.requires = [str(r) for r in req] if isinstance(req, list) else []
    params = doc.get("params")
    info.params = dict(params) if isinstance(params, dict) else {}
    stages = doc.get("stages")
    info.stages = list(stages) if isinstance(stages, dict) else []
    return info


def find(name: str, roots: list[Path] | None = None) -> TemplateInfo:
    templates = discover(roots)
    for t in templates:
        if t.name == name:
            return t
    known = [t.name for t in templates]
    hint = did_you_mean(name, known) or (f"known: {', '.join(known)}" if known else
                                         "the search path has no templates")
    raise UserError([Diagnostic(None, "", f"no template named {name!r} on the template search "
                                "path (ORCH_TEMPLATE_PATH, then workflows/templates)", hint=hint)])


# ---- show ----------------------------------------------------------------------------------
def describe(info: TemplateInfo) -> dict[str, Any]:
    """Params (type, default, bounds, help) and stages, as declared after composition.

    Not validated as a whole, so a template whose params are required still shows."""
    doc = Composer(template_roots()).load(info.path)
    sink = DiagnosticSink()
    declared = param_models(doc.get("params"), sink)
    sink.raise_if_any(SpecError)
    params = [{"name": n, "type": param_type(p), "default": p.default,
               "required": p.required or (p.default is None and p.type is None),
               "min": p.min, "max": p.max, "choices": p.choices, "help": p.help}
              for n, p in declared.items()]
    raw_stages = doc.get("stages") if isinstance(doc.get("stages"), dict) else {}
    loops = doc.get("loops") if isinstance(doc.get("loops"), dict) else {}
    stages = [_stage_info(name, s, loops) for name, s in raw_stages.items()
              if isinstance(s, dict)]
    return {**info.summary(), "params": params, "stages": stages, "loops": list(loops)}


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
    # a stage whose module is beside the template runs the template's own code (not stubbed)
    python = [(n, st) for n, st in wf.stages.items() if st.python is not None
              and not has_module(st.python, spec.code_dir(n))]
    shell = [n for n, st in wf.stages.items() if st.python is None]
    own = [n for n, st in wf.stages.items() if st.python is not None and n not in dict(python)]
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
    for sname in own:  # nor its own code: a `python:` here would look for it beside this file
        lines.append(f"{'  # ' if python else '#   '}{sname}: runs the template's own "
                     f"{wf.stages[sname].python} (beside the template)")
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
