"""Load a workflow spec: compose templates, resolve params, validate, check.

This is everything `orch validate` does. All problems in the file are
collected and raised together as one SpecError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.errors import Diagnostic, DiagnosticSink, Loc, SpecError
from orchestrator.spec.checks import check_workflow
from orchestrator.spec.compose import Composer, Requirement, Source, template_roots
from orchestrator.spec.diagnose import diagnostics_from
from orchestrator.spec.locate import locate
from orchestrator.spec.models import Param, Workflow
from orchestrator.spec.params import UNRESOLVED, param_models, resolve_values, substitute
from orchestrator.spec.yamlio import YDict


@dataclass(frozen=True)
class LoadedSpec:
    """A validated workflow, its param values and where everything came from."""

    workflow: Workflow
    params: dict[str, Any]
    path: Path
    raw: YDict = field(repr=False)
    sources: tuple[Source, ...] = ()
    declared: dict[str, Param] = field(default_factory=dict)
    requirements: tuple[Requirement, ...] = ()
    """What each file of the spec `requires` of a site (checked by the plan)."""
    notes: tuple[str, ...] = ()
    """For the user: templates from sources that loading just added to the lock file."""

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def locate(self, *path: Any, key: bool = False, exact: bool = False) -> Loc | None:
        """Source position of a key path such as ('stages', 'train', 'resources', 'gpus')."""
        return locate(self.raw, path, key=key, exact=exact)


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """`--set k=v` items as a dict (later ones win)."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SpecError([Diagnostic(None, "--set", f"{item!r} is not NAME=VALUE")])
        out[name.strip()] = value
    return out


def load_spec(path: Path | str, overrides: dict[str, str] | None = None,
              template_path: list[Path] | None = None, resolver: Any = None) -> LoadedSpec:
    """`resolver`: a spec.lock.SourceResolver (default: one that checks the workflow's
    lock file and adds templates it does not record yet)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError([Diagnostic(None, "", f"{path}: no such file")])
    composer = Composer(template_roots(template_path), resolver)
    raw = composer.load(path)
    sink = DiagnosticSink()
    decls = param_models(raw.get("params"), sink)
    values = resolve_values(decls, raw.get("params"), overrides or {}, sink)
    resolved = YDict(raw.loc)
    scope = {**dict.fromkeys(_declared_names(raw.get("params")), UNRESOLVED), **values}
    skipped: set[str] = set()
    for key, value in raw.items():
        if key != "params":
            value = substitute(value, "params", scope, (key,), sink,
                               loc=raw.value_locs.get(key), skipped=skipped)
        resolved[key] = value
        resolved.key_locs[key] = raw.key_locs[key]
        resolved.value_locs[key] = raw.value_locs[key]
    workflow = None
    try:
        workflow = Workflow.model_validate(resolved)
    except ValidationError as exc:
        checked_params = isinstance(raw.get("params"), dict)
        sink.items.extend(d for d in diagnostics_from(exc, resolved, Workflow)
                          if not (checked_params and d.path.startswith("params."))
                          and d.path not in skipped)
    check_workflow(resolved, sink)
    sink.raise_if_any(SpecError)
    assert workflow is not None
    locked = composer.resolver.finish()  # a valid workflow: lock the templates from sources
    notes = tuple(f"locked {key} in {composer.resolver.lock.path.name}" for key in locked)
    return LoadedSpec(workflow, values, path.resolve(), resolved, tuple(composer.sources), decls,
                      tuple(composer.requirements), notes)


def _declared_names(params: Any) -> list[str]:
    return [k for k in params if isinstance(k, str)] if isinstance(params, dict) else []
