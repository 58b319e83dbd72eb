"""The JSON Schemas of the workflow and site formats, as editors use them (`orch schema`).

Pydantic's schema of the models describes a document *after* loading: every value typed,
every template merged. An editor sees the file as written, so the schema is adjusted to
accept what `orch validate` accepts there:

- `${params.NAME}` wherever a typed value goes outside `params:` (a whole-string
  placeholder takes the param's typed value: `stop: "${params.n}"`, `cores:
  "${params.ranks}"`, `device: "${params.device}"`);
- the shorthands the models' before-validators read: `n: 10` declares a param
  (Param._shorthand), `temperature: [0.6, 2.0]` is a sampled bound (Bound._pair);
- a file that `extends` or `include`s others is merged with them, so it may leave out
  anything they give: the root is the workflow with no required keys (`...Partial`
  definitions), and a file that neither extends nor includes is also checked against the
  whole workflow (`if`/`else`).

Draft-07 (`definitions`, no keywords beside `$ref` that matter), the draft editors
implement (the YAML extension of VS Code: yaml-language-server). Never imports Parsl.
"""

from __future__ import annotations

import copy
import json
from typing import Any

DRAFT = "http://json-schema.org/draft-07/schema#"
PLACEHOLDER = "ParamPlaceholder"
_PLACEHOLDER_SCHEMA = {
    "type": "string", "pattern": r"^\$\{\s*params\.[A-Za-z_][A-Za-z0-9_]*\s*\}$",
    "description": "A whole-string ${params.NAME}: the param's value, with its type."}
_SCALAR = {"anyOf": [{"type": t} for t in ("integer", "number", "string", "boolean", "null")]}
SHORTHANDS = {
    "Param": {**_SCALAR, "description": "Shorthand: `name: VALUE` declares a param with "
              "default VALUE (type inferred)."},
    "Bound": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
              "description": "Shorthand: [low, high]."},
}
"""Defs whose model accepts another input shape (a before-validator), and that shape."""
NO_PLACEHOLDERS = {"Param"}
"""Defs read before params are substituted (the `params:` section itself)."""
_TYPED = {"integer", "number", "boolean"}


def workflow_schema() -> dict[str, Any]:
    from orchestrator.spec.models import Workflow

    defs, root = _draft07(Workflow.model_json_schema(by_alias=True))
    for name, d in defs.items():
        if name not in NO_PLACEHOLDERS:
            _allow_placeholders(d)
    for key, prop in root["properties"].items():
        if key != "params":
            root["properties"][key] = _wrapped(prop)
    defs[PLACEHOLDER] = _PLACEHOLDER_SCHEMA
    defs["Workflow"] = root
    whole = {n: d for n, d in defs.items() if n != PLACEHOLDER}
    out = {PLACEHOLDER: _PLACEHOLDER_SCHEMA}
    out.update({f"{n}Partial": _partial(d, "Partial") for n, d in whole.items()})
    out.update({f"{n}Required": _requirements(d) for n, d in whole.items()})
    # The root is the workflow without required keys (its keys complete at the top of a
    # file); one that neither extends nor includes anything must also have every key the
    # workflow requires (the ...Required definitions check only that: no message twice).
    partial = out.pop("WorkflowPartial")
    return {"$schema": DRAFT, **partial, "title": "orchestrator workflow",
            "if": {"anyOf": [{"required": ["extends"]}, {"required": ["include"]}]},
            "else": _ref("WorkflowRequired"), "definitions": out}


def site_schema() -> dict[str, Any]:
    from orchestrator.site.models import Site

    defs, root = _draft07(Site.model_json_schema(by_alias=True))
    return {"$schema": DRAFT, **root, "title": "orchestrator site", "definitions": defs}


def _draft07(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(definitions, root) with refs to `#/definitions/...` and shorthands allowed."""
    text = json.dumps(schema).replace('"#/$defs/', '"#/definitions/')
    schema = json.loads(text)
    defs = schema.pop("$defs", {})
    schema.pop("$schema", None)
    _shorthands(defs)
    _shorthands(schema)
    return defs, schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _shorthands(node: Any) -> None:
    """Every reference to a def with a shorthand becomes `anyOf: [the def, the shorthand]`."""
    if isinstance(node, list):
        for item in node:
            _shorthands(item)
        return
    if not isinstance(node, dict):
        return
    for key, value in list(node.items()):
        name = _ref_name(value)
        if name in SHORTHANDS and key in ("items", "additionalProperties"):
            node[key] = {"anyOf": [value, SHORTHANDS[name]]}
        elif isinstance(value, list):
            node[key] = [{"anyOf": [v, SHORTHANDS[n]]} if (n := _ref_name(v)) in SHORTHANDS
                         else v for v in value]
            _shorthands(node[key])
        else:
            _shorthands(value)


def _ref_name(node: Any) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        return node["$ref"].rsplit("/", 1)[-1]
    return None


def _allow_placeholders(node: Any) -> None:
    """A placeholder is accepted wherever a typed scalar is: numbers, booleans, enums,
    constants and patterned strings (plain strings accept it already)."""
    if isinstance(node, list):
        for item in node:
            _allow_placeholders(item)
        return
    if not isinstance(node, dict):
        return
    for key in ("properties", "patternProperties"):
        for name, sub in (node.get(key) or {}).items():
            node[key][name] = _wrapped(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _wrapped(node[key])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(node.get(key), list):
            for sub in node[key]:
                if not _typed(sub):
                    _allow_placeholders(sub)
            if key != "allOf" and any(_typed(s) for s in node[key]) and \
                    _ref(PLACEHOLDER) not in node[key]:
                node[key].append(_ref(PLACEHOLDER))


def _wrapped(sub: Any) -> Any:
    if _typed(sub):
        keep = {k: sub.pop(k) for k in ("title", "description", "default") if k in sub}
        return {**keep, "anyOf": [sub, _ref(PLACEHOLDER)]}
    _allow_placeholders(sub)
    return sub


def _typed(node: Any) -> bool:
    if not isinstance(node, dict) or "$ref" in node:
        return False
    if "enum" in node or "const" in node:
        return True
    t = node.get("type")
    return t in _TYPED or (t == "string" and "pattern" in node)


def _requirements(node: Any) -> Any:
    """Only the required keys of `node`, and the structure that leads to nested ones (its
    references pointing at the other ...Required definitions); `oneOf` becomes `anyOf`, as
    several branches may now match."""
    if not isinstance(node, dict):
        return {}
    out: dict[str, Any] = {}
    for key in ("required", "minProperties"):
        if isinstance(node.get(key), list | int) and not isinstance(node.get(key), bool):
            out[key] = node[key]
    ref = _ref_name(node)
    if ref and ref != PLACEHOLDER:
        out["$ref"] = f"#/definitions/{ref}Required"
    if isinstance(node.get("properties"), dict):
        props = {k: _requirements(v) for k, v in node["properties"].items()}
        props = {k: v for k, v in props.items() if v}
        if props:
            out["properties"] = props
    for key in ("additionalProperties", "items"):
        if isinstance(node.get(key), dict) and (sub := _requirements(node[key])):
            out[key] = sub
    raw = [b for k in ("anyOf", "oneOf") for b in node.get(k) or []]
    branches = [_requirements(b) for b in raw]
    real = [r for r in branches if r]
    if len(real) == 1:  # requirements constrain objects only: a scalar or list passes them
        out.update(real[0])
    elif real:  # a branch without requirements still only matches its own type
        out["anyOf"] = [r or ({"type": b["type"]} if isinstance(b, dict) and "type" in b
                              else {}) for r, b in zip(branches, raw, strict=True)]
    return out


def _partial(node: Any, suffix: str) -> Any:
    """A copy that requires nothing (a file merged with what it extends or includes), its
    references pointing at the other definitions with `suffix`."""
    node = copy.deepcopy(node)

    def strip(n: Any) -> None:
        if isinstance(n, list):
            for x in n:
                strip(x)
        elif isinstance(n, dict):
            if isinstance(n.get("required"), list):  # the keyword, not a property named so
                del n["required"]
            if isinstance(n.get("minProperties"), int):
                del n["minProperties"]
            ref = n.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/definitions/") and \
                    not ref.endswith("/" + PLACEHOLDER):
                n["$ref"] = ref + suffix
            for v in n.values():
                strip(v)

    strip(node)
    return node
