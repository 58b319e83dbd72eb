"""The prospective half of the crate: what was meant to run. The workflow file (the
crate's `mainEntity`, a ComputationalWorkflow), the templates it is based on, the site
config, the workflow's params as FormalParameters with this run's values, and per stage a
tool (SoftwareApplication: its command or Python target, its code key as version, its
environment) and a HowToStep. Provenance Run Crate 0.5 names these; see docs/provenance.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.export.graph import Graph, file_entity, local_id, ref, refs, short_json
from orchestrator.export.payload import Payload
from orchestrator.export.run_record import RunRecord
from orchestrator.export.sources import SITE_DIR, Sources, find_sources, stage_code

LANGUAGE = "#orchestrator-workflow-language"
PYTHON = "#python"
ENGINE = "#orchestrator"
BIOSCHEMAS_WORKFLOW = "https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE"
_PARAM_TYPES = {"int": "Integer", "float": "Float", "str": "Text", "bool": "Boolean",
                "path": "Text"}


@dataclass
class Prospective:
    workflow: str
    """The main workflow entity's @id."""
    tools: dict[str, str] = field(default_factory=dict)
    steps: dict[str, str] = field(default_factory=dict)
    values: list[str] = field(default_factory=list)
    """PropertyValues: this run's param values."""
    site: str | None = None
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Stage -> its environment as plan.json has it (with `name`)."""
    parts: list[str] = field(default_factory=list)
    """Data entities for the root's hasPart."""


def describe_workflow(rec: RunRecord, payload: Payload, g: Graph) -> Prospective:
    srcs = find_sources(rec)
    main_id, copied, templates = _source_files(srcs, payload, g)
    parts = [main_id, *templates] if main_id else templates
    if not copied:  # the workflow file is gone or changed: the resolved spec stands in
        templates = [main_id, *templates] if main_id else templates
        main_id = "spec.json"
    pro = Prospective(main_id, parts=parts)
    pro.site = _site(rec, payload, g)
    if pro.site:
        pro.parts.append(pro.site)
    params = _params(rec, g, pro)
    _stages(rec, payload, g, pro, srcs)
    wf = rec.spec.get("workflow") or {}
    g.add({"@id": LANGUAGE, "@type": "ComputerLanguage", "name": "orchestrator workflow YAML",
           "alternateName": "orch", "version": str(wf.get("apiVersion") or "orchestrator/v1"),
           "description": "The YAML workflow format of orchestrator (`orch validate`, "
                          "`orch schema`)."})
    main = g.entities.get(main_id, {"@id": main_id})
    main.update({"@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"],
                 "name": str(wf.get("name") or rec.status.workflow or "workflow"),
                 "programmingLanguage": ref(LANGUAGE),
                 "conformsTo": ref(BIOSCHEMAS_WORKFLOW),
                 "hasPart": refs(list(pro.tools.values())),
                 "step": refs(list(pro.steps.values()))})
    if params:
        main["input"] = refs(params)
    if wf.get("description"):
        main["description"] = str(wf["description"])
    if wf.get("version"):
        main["version"] = str(wf["version"])
    if templates:
        main["isBasedOn"] = refs(templates)
    g.add(main)
    g.add({"@id": BIOSCHEMAS_WORKFLOW, "@type": "CreativeWork",
           "name": "Bioschemas ComputationalWorkflow profile", "version": "1.0-RELEASE"})
    _engine(rec, g)
    return pro


def _source_files(srcs: Sources, payload: Payload,
                  g: Graph) -> tuple[str | None, bool, list[str]]:
    """(the workflow file's @id, whether it was copied, the other sources' @ids)."""
    main_id, copied, templates = None, False, []
    for s in srcs.files:
        placed = payload.record(s.path, s.rel, s.sha256)
        extras = "; ".join(f"{k}: {v}" for k, v in s.extras.items())
        version = s.record.get("version")
        if s.main:
            what = "The workflow file"
        elif s.record.get("template"):
            what = f"Template {s.record['template']}" + (f" version {version}" if version else "")
        else:
            what = "A file the workflow extends or includes"
        desc = f"{what}, as recorded by the run ({s.record.get('path')})" + (
            f"; {extras}" if extras else "") + (
            "" if s.sha256 else "; the run recorded no SHA-256: the file as found when exported")
        e = file_entity(placed, s.path.name, desc, ["File", "SoftwareSourceCode"],
                        version=str(version) if version else None,
                        alternateName=str(s.record.get("path")),
                        url=_web(s.extras.get("url")),
                        programmingLanguage=ref(LANGUAGE))
        g.add(e)
        if s.main:
            main_id, copied = placed.id, placed.copied
        else:
            templates.append(placed.id)
    return main_id, copied, templates


def _web(url: object) -> str | None:
    """A template source's repository, when it is on the web (not a local folder)."""
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def _site(rec: RunRecord, payload: Payload, g: Graph) -> str | None:
    site = rec.meta.get("site")
    if not isinstance(site, str) or not site:
        return None
    path = Path(site)
    sha = rec.meta.get("site_sha256")
    placed = payload.record(path, f"{SITE_DIR}/{path.name}", sha if isinstance(sha, str) else None)
    g.add(file_entity(placed, path.name, f"The site config the run used (site "
                      f"{rec.plan.get('site') or rec.status.site}): pools, scheduler, "
                      "environments. The workflow engine's configuration."))
    return placed.id


def _params(rec: RunRecord, g: Graph, pro: Prospective) -> list[str]:
    declared = ((rec.spec.get("workflow") or {}).get("params")) or {}
    values = rec.spec.get("params") or rec.plan.get("params") or {}
    sets = rec.meta.get("sets") or {}
    out = []
    for name in sorted(set(declared) | set(values)):
        decl = declared.get(name) if isinstance(declared.get(name), dict) else {}
        fp, pv = local_id("param", name), local_id("param-value", name)
        e = {"@id": fp, "@type": "FormalParameter", "name": name,
             "additionalType": _PARAM_TYPES.get(str(decl.get("type")), "DataType"),
             "valueRequired": bool(decl.get("required")), "workExample": ref(pv)}
        if decl.get("help"):
            e["description"] = str(decl["help"])
        if decl.get("default") is not None:
            e["defaultValue"] = _value(decl["default"])
        g.add(e)
        v = {"@id": pv, "@type": "PropertyValue", "name": name, "exampleOfWork": ref(fp)}
        if values.get(name) is not None:
            v["value"] = _value(values[name])
        v["description"] = (f"set with --set {name}={sets[name]}" if name in sets
                            else "the workflow's default")
        g.add(v)
        out.append(fp)
        pro.values.append(pv)
    return out


def _value(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool) else short_json(v)


def _stages(rec: RunRecord, payload: Payload, g: Graph, pro: Prospective,
            srcs: Sources) -> None:
    envs = rec.plan.get("environments") or {}
    base = srcs.workflow.parent if srcs.workflow else None
    stages = [s for s in rec.plan.get("stages") or []
              if isinstance(s, dict) and isinstance(s.get("name"), str)]
    planned = {s["name"] for s in stages}
    stages += [{"name": s.name, "kind": "?", "target": "not in plan.json"}  # plan.json lost
               for s in rec.status.stages if s.name not in planned]
    for pos, s in enumerate(stages, start=1):
        name = s["name"]
        tool = local_id("stage", name)
        e: dict[str, Any] = {"@id": tool, "@type": "SoftwareApplication", "name": name,
                             "description": _stage_text(rec, s)}
        code = (rec.spec.get("code") or {}).get(name)
        if code:
            e["version"] = str(code)
        env = envs.get(s.get("environment")) if s.get("environment") else None
        if isinstance(env, dict):
            pro.environments[name] = {"name": s["environment"], **env}
            e["softwareRequirements"] = ref(_environment(g, s["environment"], env))
        sc = stage_code(rec, s, base)
        if sc.note:
            e["description"] += f" ({sc.note})"
        if sc.unchanged:
            ids = [_code_file(payload, g, srcs, f) for f in sc.files]
            pro.parts += ids
            if sc.module is not None:
                e["mainEntity"] = ref(_code_file(payload, g, srcs, sc.module))
        g.add(e)
        step = local_id("step", name)
        g.add({"@id": step, "@type": "HowToStep", "name": name, "position": pos,
               "workExample": ref(tool)})
        pro.tools[name], pro.steps[name] = tool, step


def _stage_text(rec: RunRecord, s: dict[str, Any]) -> str:
    stage = ((rec.spec.get("workflow") or {}).get("stages") or {}).get(s["name"]) or {}
    head = str(stage.get("description") or "").strip()
    what = f"{s.get('kind')}: {s.get('target')}"
    extra = []
    if s.get("sweep"):
        extra.append("swept over " + ", ".join(map(str, s["sweep"])))
    if s.get("loop"):
        extra.append(f"in loop {s['loop']}")
    res = s.get("resources") or {}
    extra.append(f"device {res.get('device') or s.get('device')}, pool {s.get('pool')}")
    return (f"{head} " if head else "") + f"[{what}] " + "; ".join(extra)


def _code_file(payload: Payload, g: Graph, srcs: Sources, path: Path) -> str:
    rel = srcs.crate_rel(path) or f"workflow/_external/{path.name}"
    placed = payload.record(path, rel)
    g.add(file_entity(placed, path.name, "Python code a stage ran (unchanged since the run: "
                      "its code key matches)", ["File", "SoftwareSourceCode"],
                      programmingLanguage=ref(PYTHON)))
    g.add({"@id": PYTHON, "@type": "ComputerLanguage", "name": "Python",
           "url": "https://www.python.org/"})
    return placed.id


def _environment(g: Graph, name: str, env: dict[str, Any]) -> str:
    eid = local_id("environment", name)
    parts = [str(env.get("description") or "").strip()]
    if env.get("prefix"):
        parts.append(f"prefix {env['prefix']}")
    if env.get("modules"):
        parts.append("modules " + " ".join(map(str, env["modules"])))
    box = env.get("container") if isinstance(env.get("container"), dict) else None
    if box:
        parts.append(f"{box.get('engine') or 'podman'} image {box.get('image')}")
    if env.get("env"):
        parts.append("variables " + " ".join(sorted(map(str, env["env"]))))
    g.add({"@id": eid, "@type": "SoftwareApplication", "name": name,
           "description": "A software environment the site defines: "
                          + "; ".join(p for p in parts if p)})
    return eid


def _engine(rec: RunRecord, g: Graph) -> None:
    versions = sorted({str(a.get("orch_version")) for a in rec.meta.get("attempts") or []
                       if isinstance(a, dict) and a.get("orch_version")})
    e = {"@id": ENGINE, "@type": "SoftwareApplication", "name": "orchestrator (orch)",
         "description": "The workflow engine: `orch run` planned the workflow on the site "
                        "and ran its tasks through Parsl."}
    if versions:
        e["softwareVersion"] = ", ".join(versions)
    g.add(e)
