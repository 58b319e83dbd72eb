"""Typed params: defaults, `--set` overrides, and `${params.x}` interpolation.

Interpolation is plain text substitution of `${params.NAME}`, `${sweep.NAME}`
and `${stages.STAGE.outputs.OUT}` (an upstream file, rendered per task by the
payload): no expressions, no Jinja. A string that is exactly one placeholder
takes the typed value; inside shell commands every value is shell-quoted (a
list, each item). `$${` writes a literal `${`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from orchestrator.errors import DiagnosticSink
from orchestrator.spec.diagnose import diagnostics_from
from orchestrator.spec.locate import dotted
from orchestrator.spec.models import Param
from orchestrator.spec.suggest import did_you_mean
from orchestrator.spec.yamlio import YDict, YList

PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_REF = re.compile(r"^\s*(?:(params|sweep)\.([A-Za-z_][A-Za-z0-9_]*)|"
                  r"(stages)\.([A-Za-z_][A-Za-z0-9_]*\.outputs\.[A-Za-z_][A-Za-z0-9_]*))\s*$")
ONLY = ("only ${params.NAME}, ${sweep.NAME} and ${stages.STAGE.outputs.OUT} may be "
        "interpolated (no expressions)")


def _ref(text: str) -> tuple[str, str] | None:
    """(scope, name) of a placeholder's inside; a stage file's name is `STAGE.outputs.OUT`."""
    m = _REF.match(text)
    if m is None:
        return None
    return (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
_TYPES = {bool: "bool", int: "int", float: "float", str: "str"}
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def param_models(raw: Any, sink: DiagnosticSink) -> dict[str, Param]:
    """Validate the `params:` section on its own, so its values can be substituted."""
    if not isinstance(raw, dict):
        return {}  # the workflow model reports the wrong type, with its position
    out: dict[str, Param] = {}
    for name, decl in raw.items():
        try:
            out[name] = Param.model_validate(decl)
        except ValidationError as exc:
            fallback = raw.value_locs.get(name) if isinstance(raw, YDict) else None
            for d in diagnostics_from(exc, decl, Param, ("params", name)):
                sink.items.append(d if d.loc else replace(d, loc=fallback))
    return out


def param_type(p: Param) -> str:
    if p.type:
        return p.type
    return _TYPES.get(type(p.default), "str")


def resolve_values(decls: dict[str, Param], raw: Any, overrides: dict[str, str],
                   sink: DiagnosticSink) -> dict[str, Any]:
    """Param values: defaults checked against their types, then `--set` overrides."""
    values: dict[str, Any] = {}
    for name, p in decls.items():
        loc = _default_loc(raw, name)
        if p.default is None:
            if name not in overrides:
                if p.required:
                    sink.error(loc, f"params.{name}", "is required; give it with --set "
                               f"{name}=VALUE")
                else:
                    values[name] = None  # optional, no default: null
                continue
        else:
            try:
                values[name] = _check(p, coerce(p, p.default))
            except ValueError as exc:
                sink.error(loc, f"params.{name}.default", str(exc))
    for name, text in overrides.items():
        if name not in decls:
            sink.error(None, f"--set {name}", "the workflow has no such param",
                       did_you_mean(name, decls) or _known(decls))
            continue
        try:
            values[name] = _check(decls[name], parse_text(decls[name], text))
        except ValueError as exc:
            sink.error(None, f"--set {name}", str(exc))
    return values


def _known(decls: dict) -> str:
    return "params: " + (", ".join(sorted(decls)) or "none")


def _default_loc(raw: Any, name: str):
    if isinstance(raw, YDict):
        decl = raw.get(name)
        if isinstance(decl, YDict) and "default" in decl:
            return decl.value_locs["default"]
        return raw.value_locs.get(name)
    return None


def coerce(p: Param, value: Any) -> Any:
    kind = param_type(p)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected a bool, got {value!r}")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(f"expected an int, got {value!r}")
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"expected a float, got {value!r}")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {value!r}")


def parse_text(p: Param, text: str) -> Any:
    """Parse a `--set` value by the param's type."""
    kind = param_type(p)
    try:
        if kind == "int":
            return int(text.replace("_", ""), 10)
        if kind == "float":
            return float(text)
    except ValueError:
        raise ValueError(f"expected {'an int' if kind == 'int' else 'a float'}, "
                         f"got {text!r}") from None
    if kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    return text


def _check(p: Param, value: Any) -> Any:
    if p.min is not None and isinstance(value, int | float) and value < p.min:
        raise ValueError(f"{value!r} is below the minimum {p.min:g}")
    if p.max is not None and isinstance(value, int | float) and value > p.max:
        raise ValueError(f"{value!r} is above the maximum {p.max:g}")
    if p.choices is not None and value not in p.choices:
        raise ValueError(f"{value!r} is not one of {p.choices}")
    return value


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


class _Unresolved:
    """A declared param with no valid value: its own error is reported once, and its
    uses are left alone instead of being reported again as unknown."""

    def __repr__(self) -> str:
        return "<unresolved>"


UNRESOLVED = _Unresolved()


def substitute(node: Any, scope: str, values: dict[str, Any], path: tuple,
               sink: DiagnosticSink | None, quote: bool = False, loc=None,
               skipped: set[str] | None = None) -> Any:
    """Replace `${scope.NAME}` in every string of `node`; other scopes are left alone."""
    if isinstance(node, YDict):
        out = YDict(node.loc)
        for k, v in node.items():
            out[k] = substitute(v, scope, values, (*path, k), sink,
                                quote or (len(path) == 2 and path[0] == "stages" and k == "shell"),
                                node.value_locs.get(k), skipped)
            out.key_locs[k] = node.key_locs.get(k)
            out.value_locs[k] = node.value_locs.get(k)
        return out
    if isinstance(node, YList):
        out_list = YList(node.loc)
        for i, v in enumerate(node):
            item_loc = node.item_locs[i] if i < len(node.item_locs) else loc
            out_list.append(substitute(v, scope, values, (*path, i), sink, quote, item_loc,
                                       skipped))
        out_list.item_locs = list(node.item_locs)
        return out_list
    if isinstance(node, str) and "${" in node:
        def report(msg: str | None, hint: str | None = None) -> None:
            if msg is None:  # an unresolved param: its own error says why
                if skipped is not None:
                    skipped.add(dotted(path))
            elif sink is not None:
                sink.error(loc, dotted(path), msg, hint)

        # args, shell, env and outputs are rendered again per sweep point: they keep their
        # `$${` escapes, and a value put in now must stay data then (a `${...}` in a --set
        # value is text, not a reference); every other string is final now
        again = scope != "sweep" and len(path) >= 3 and path[0] == "stages" and path[2] in (
            "args", "shell", "env", "outputs")
        return render(node, scope, values, quote, report, keep_escapes=again,
                      escape_values=again)
    return node


def render(text: str, scope: str, values: dict[str, Any], quote: bool, report,
           keep_escapes: bool = False, escape_values: bool = False) -> Any:
    """Substitute one string. `report(message, hint)` receives unknown names. With
    `escape_values`, `${` in substituted values is escaped (`$${`) for a later render."""
    whole = _ref(text[2:-1]) if text.startswith("${") and text.endswith("}") \
        and text.count("${") == 1 else None
    if whole and whole[0] == scope and not quote:
        name = whole[1]
        if values.get(name) is UNRESOLVED:
            report(None)
            return text
        if name in values:
            value = values[name]
            return value.replace("${", "$${") if escape_values and isinstance(value, str) \
                else value
        report(f"unknown {_noun(scope)} {name!r}", did_you_mean(name, values) or _avail(values))
        return text

    def repl(m: re.Match) -> str:
        if m.group(0) == "$${":
            return m.group(0) if keep_escapes else "${"
        ref = _ref(m.group(1))
        if not ref:
            report(f"{m.group(0)!r}: {ONLY}")
            return m.group(0)
        if ref[0] != scope:
            return m.group(0)
        name = ref[1]
        if values.get(name) is UNRESOLVED:
            report(None)
            return m.group(0)
        if name not in values:
            report(f"unknown {_noun(scope)} {name!r}", did_you_mean(name, values) or _avail(values))
            return m.group(0)
        items = values[name] if isinstance(values[name], list) else [values[name]]
        texts = [as_text(v) for v in items]
        if escape_values:
            texts = [t.replace("${", "$${") for t in texts]
        return " ".join(shlex.quote(t) for t in texts) if quote else " ".join(texts)

    return PLACEHOLDER.sub(repl, text)


def references(text: str, scope: str) -> list[str]:
    """Names referenced as `${scope.NAME}` in a string (`STAGE.outputs.OUT` for stages)."""
    out = []
    for m in PLACEHOLDER.finditer(text):
        if m.group(1) is None:
            continue
        ref = _ref(m.group(1))
        if ref and ref[0] == scope:
            out.append(ref[1])
    return out


def _noun(scope: str) -> str:
    return {"params": "param", "sweep": "sweep variable"}.get(scope, "stage output")


def _avail(values: dict) -> str:
    return "known: " + (", ".join(sorted(values)) or "none")
