"""The environments a new site config defines: those the shipped workflows name.

`orch site init` cannot know where a cluster keeps DeePMD-kit, so it writes each name the
shipped workflows and templates use (`environment: dpgen`) as the default (laptop) site
defines it, relative prefixes made absolute, under a CHECK comment: the workflows then plan
on the new site at once, and the user sees what to point at the cluster's software.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
_ENV_LINE = re.compile(r"^\s*environment:\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?\s*(?:#.*)?$",
                       re.MULTILINE)
# `requires: {environments: [openvino]}`: names a stage takes from a param
# (`environment: "${params.environment}"`) are required this way
_REQUIRES = re.compile(r"\benvironments:\s*\[([^\]]*)\]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class EnvDraft:
    """An environment the shipped workflows name, as the default (laptop) site defines it."""

    name: str
    files: list[str]                 # the workflows and templates naming it
    values: dict[str, Any] | None    # None: the laptop site does not define it either


def shipped_environments(root: Path = WORKFLOWS) -> dict[str, list[str]]:
    """Environment names the shipped workflows and templates give (`environment: dpgen`,
    or `requires: {environments: [dpgen]}`), with the files that name them."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.yaml")) if root.is_dir() else []:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        required = [n for group in _REQUIRES.findall(text) for n in _NAME.findall(group)]
        for name in dict.fromkeys([*_ENV_LINE.findall(text), *required]):
            found.setdefault(name, []).append(str(path.relative_to(root.parent)))
    return found


def environment_drafts(names: dict[str, list[str]]) -> list[EnvDraft]:
    """Each name with the default site's definition (relative prefixes made absolute)."""
    from orchestrator.errors import OrchestratorError
    from orchestrator.site.load import load_site

    try:
        defined = load_site().site.environments
    except OrchestratorError:
        defined = {}
    return [EnvDraft(name, files, defined[name].model_dump(exclude_defaults=True)
                     if name in defined else None) for name, files in names.items()]
