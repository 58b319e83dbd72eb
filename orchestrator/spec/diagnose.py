"""Map pydantic validation errors back to YAML positions, with hints."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from orchestrator.errors import Diagnostic
from orchestrator.spec.locate import data_path, dotted, locate
from orchestrator.spec.suggest import did_you_mean


def diagnostics_from(exc: ValidationError, data: Any, model: type[BaseModel],
                     prefix: tuple = ()) -> list[Diagnostic]:
    """One located diagnostic per pydantic error; `data` is the YDict that was validated."""
    out: list[Diagnostic] = []
    for err in exc.errors(include_url=False):
        out.append(_one(err, data, model, prefix))
    return _merge_unions(out)


EXPECTED = "expected a valid "


def _merge_unions(items: list[Diagnostic]) -> list[Diagnostic]:
    """A value that fits no member of a union (`int | float | str | bool`) gets one error
    naming every type it could have been, not one error per type."""
    out: list[Diagnostic] = []
    for d in items:
        prev = out[-1] if out else None
        if (prev is not None and prev.loc == d.loc and prev.path == d.path
                and prev.message.startswith(EXPECTED) and d.message.startswith(EXPECTED)):
            kinds = prev.message[len(EXPECTED):].replace(" or ", ", ").split(", ")
            kinds.append(d.message[len(EXPECTED):])
            out[-1] = Diagnostic(prev.loc, prev.path, EXPECTED + ", ".join(kinds[:-1])
                                 + " or " + kinds[-1], prev.severity, prev.hint)
        else:
            out.append(d)
    return out


def _one(err: dict, data: Any, model: type[BaseModel], prefix: tuple) -> Diagnostic:
    kind = err["type"]
    loc = tuple(err["loc"])
    message = _message(err)
    hint = None
    if kind == "missing":
        parent = data_path(data, loc[:-1])
        path = (*parent, loc[-1])
        where = locate(data, parent, key=True) if parent else getattr(data, "loc", None)
        message = f"missing required key {loc[-1]!r}"
    elif kind == "extra_forbidden":
        parent = data_path(data, loc[:-1])
        path = (*parent, loc[-1])
        where = locate(data, path, key=True)
        message = f"unknown key {loc[-1]!r}"
        allowed = _fields_at(model, parent)
        if allowed:
            hint = did_you_mean(str(loc[-1]), allowed)
            if hint is None:
                hint = "allowed: " + ", ".join(sorted(allowed))
    else:
        path = data_path(data, loc)
        where = locate(data, path)
        expected = (err.get("ctx") or {}).get("expected")
        if kind == "literal_error" and isinstance(err.get("input"), str) and expected:
            options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",")]
            hint = did_you_mean(err["input"], options)
    return Diagnostic(where, dotted(prefix + path), message, hint=hint)


def _message(err: dict) -> str:
    msg = err["msg"]
    for lead in ("Value error, ", "Assertion failed, "):
        if msg.startswith(lead):
            msg = msg[len(lead):]
    if err["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return "expected a mapping"
    if msg.startswith("Input should be"):
        msg = "expected" + msg[len("Input should be"):]
        got = err.get("input")
        if isinstance(got, str | int | float | bool) or got is None:
            msg += f", got {got!r}"
    return msg


def _fields_at(model: type[BaseModel], path: tuple) -> list[str]:
    """Names (or aliases) the model accepts at `path`, or [] if it is not a model there."""
    tp: Any = model
    for part in path:
        tp = _descend(tp, part)
        if tp is None:
            return []
    models = _models_in(tp)
    names: list[str] = []
    for m in models:
        for name, field in m.model_fields.items():
            names.append(field.alias or name)
    return names


def _descend(tp: Any, part: Any) -> Any:
    for m in _models_in(tp):
        fields = {f.alias or n: f for n, f in m.model_fields.items()}
        if part in fields:
            return fields[part].annotation
    for container in _containers_in(tp):
        args = typing.get_args(container)
        origin = typing.get_origin(container)
        if origin is dict and len(args) == 2:
            return args[1]
        if origin is list and args:
            return args[0]
    return None


def _flatten(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _flatten(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out = []
        for arg in typing.get_args(tp):
            out.extend(_flatten(arg))
        return out
    return [tp]


def _models_in(tp: Any) -> list[type[BaseModel]]:
    return [t for t in _flatten(tp) if isinstance(t, type) and issubclass(t, BaseModel)]


def _containers_in(tp: Any) -> list[Any]:
    return [t for t in _flatten(tp) if typing.get_origin(t) in (dict, list)]
