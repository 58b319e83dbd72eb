"""Write a site draft (site/init.py) as commented YAML, or merge its new pools into an
existing site file without touching a byte of what is there.

No YAML round-tripper (ruamel is not a dependency): the draft is rendered by hand (plain
scalars, quoted where YAML would read them otherwise), and a merge inserts the new pools'
text after the last line of the file's `pools:` block, found from the loader's positions.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import UserError
from orchestrator.site.init import PoolDraft, SiteDraft
from orchestrator.site.init_envs import EnvDraft
from orchestrator.site.models import Site
from orchestrator.spec.yamlio import YDict
from orchestrator.units import parse_memory, parse_walltime

WIDTH = 92
_PLAIN = re.compile(r"^([A-Za-z_/][A-Za-z0-9_./+-]*|\d+[KMGTP]i?B)$")
COMMENT_COL = 36
_RESERVED = {"yes", "no", "on", "off", "true", "false", "null", "y", "n", "~"}


def scalar(value: Any) -> str:
    """One YAML scalar: plain when YAML reads it back as the same string, else JSON-quoted
    (a JSON string is a valid YAML double-quoted scalar)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)


def comment_lines(text: str, indent: int) -> list[str]:
    pad = " " * indent
    return textwrap.wrap(text, WIDTH, initial_indent=pad + "# ", subsequent_indent=pad + "# ",
                         break_on_hyphens=False, break_long_words=False)


def _entry(key: str, value: Any, comment: str, indent: int) -> list[str]:
    """`key: value   # comment`, comments lined up; a long comment goes above the line."""
    line = f"{' ' * indent}{key}: {scalar(value)}"
    if not comment:
        return [line]
    padded = line.ljust(max(COMMENT_COL, len(line) + 2))
    if len(padded) + 2 + len(comment) <= WIDTH:
        return [f"{padded}# {comment}"]
    return [*comment_lines(comment, indent), line]


def render_pool(pool: PoolDraft, indent: int = 2, step: int = 2) -> list[str]:
    lines = [ln for note in pool.notes for ln in comment_lines(note, indent)]
    lines.append(f"{' ' * indent}{pool.name}:")
    for key, value in pool.values.items():
        lines += _entry(key, value, pool.comments.get(key, ""), indent + step)
    return lines


def render_site(draft: SiteDraft, target: str = "SITE.yaml") -> str:
    """The whole site file, comments included."""
    out = [ln for note in draft.header for ln in comment_lines(note, 0)]
    out += ["# Then check it:", f"#   orch validate {target}",
            f"#   orch plan workflows/hello-sweep/workflow.yaml --site {target}"]
    out += ["apiVersion: orchestrator/v1", "kind: site", f"name: {scalar(draft.name)}",
            f"description: {scalar(draft.description)}", f"scheduler: {draft.scheduler}"]
    hints = draft.hints
    if hints is not None and hints.options_note:
        out += comment_lines(hints.options_note, 0)
    if hints is not None and hints.options:
        out += [f"{draft.scheduler}:"]
        for key, value, comment in hints.options:
            out += _entry(key, value, comment, 2)
    if draft.env:
        out += ["env:", *[ln for n in draft.env_notes for ln in comment_lines(n, 2)]]
        out += [f"  {k}: {scalar(v)}" for k, v in draft.env.items()]
    out += ["mpi:", *[ln for n in draft.mpi_notes for ln in comment_lines(n, 2)]]
    out += [f"  {k}: {scalar(v)}" for k, v in draft.mpi.items()]
    if draft.fallbacks:
        out += [ln for n in draft.fallback_notes for ln in comment_lines(n, 0)]
        out += ["fallbacks:", *[f"  {k}: {v}" for k, v in draft.fallbacks.items()]]
    out += _environments(draft.environments)
    out += ["pools:"]
    out += comment_lines("Each pool's blocks (pilot jobs) put the bin/ of the Python that runs "
                         "orch first on PATH; add `worker_init: \"module load ...\"` where the "
                         "compute nodes need more.", 2)
    for pool in draft.pools:
        out += render_pool(pool)
    return "\n".join(out) + "\n"


def _environments(envs: list[EnvDraft]) -> list[str]:
    out = comment_lines("What `environment: NAME` means on this cluster: a venv or conda "
                        "`prefix`, `modules`, a `container`, `env` (docs/site.md#environments).",
                        0)
    defined = [e for e in envs if e.values]
    for env in envs:
        if not env.values:
            out += comment_lines(f"CHECK: {', '.join(env.files)} name environment "
                                 f"{env.name!r}: define it here.", 0)
    if not defined:
        return out
    out += comment_lines("CHECK: the shipped workflows name these; they are defined as on "
                         "this machine (site laptop): point them at this cluster's software, "
                         "where the compute nodes see it.", 0)
    out.append("environments:")
    for env in defined:
        out += comment_lines("named by " + ", ".join(env.files), 2)
        out.append(f"  {env.name}:")
        out += [f"    {key}: {scalar(value)}" for key, value in env.values.items()]
    return out


# ---------------------------------------------------------------- merge


@dataclass
class Merge:
    text: str
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)        # pools already in the file
    notes: list[str] = field(default_factory=list)       # where the scheduler and file differ


def merge_site(text: str, raw: YDict, site: Site, draft: SiteDraft) -> Merge:
    """`text` (a valid site file; `raw` its parse, `site` its model) with the draft's pools
    that it lacks appended to its `pools:` block. A draft pool is already there when a
    pool of the file has its device, partition (PBS Pro: queue) and constraint."""
    out = Merge(text)
    field_ = draft.hints.queue_field if draft.hints else "partition"
    have = {(p.device, getattr(p, field_), p.constraint): n for n, p in site.pools.items()}
    new: list[PoolDraft] = []
    for pool in draft.pools:
        v = pool.values
        match = have.get((v["device"], v.get(field_), v.get("constraint")))
        if match:
            out.kept.append(f"{pool.name} (as {match})" if match != pool.name else pool.name)
            out.notes += _differences(match, raw["pools"][match], pool, _label(draft))
            continue
        taken = set(site.pools) | {p.name for p in new}
        base, n = pool.name, 2
        while pool.name in taken:
            pool.name, n = f"{base}-{n}", n + 1
        new.append(pool)
    if new:
        out.text = _insert(text, raw, new)
        out.added = [p.name for p in new]
    return out


def _label(draft: SiteDraft) -> str:
    from orchestrator import schedulers

    return schedulers.get(draft.scheduler).capabilities.label


def _differences(name: str, have: YDict, pool: PoolDraft, label: str = "Slurm") -> list[str]:
    """What the scheduler says now against what the file says (as written: `auto` is not compared)."""
    checks = (("cores_per_node", lambda x: x), ("accelerators_per_node", lambda x: x),
              ("memory_per_node", parse_memory), ("max_walltime", parse_walltime))
    notes = []
    for key, norm in checks:
        now, was = pool.values.get(key), have.get(key)
        if now is None or was is None or was == "auto":
            continue
        try:
            differ = norm(now) != norm(was)
        except (TypeError, ValueError):
            continue
        if differ:
            notes.append(f"pool {name}: the file says {key}: {was}, {label} now says {now} "
                         "(kept as written)")
    return notes


def _insert(text: str, raw: YDict, new: list[PoolDraft]) -> str:
    lines = text.splitlines(keepends=True)
    pools = raw["pools"]
    start = raw.key_locs["pools"].line
    if not isinstance(pools, YDict) or not pools.key_locs or (
            raw.value_locs["pools"].line == start):
        raise UserError("--merge: the file's `pools:` is not a block mapping (one pool per "
                        "indented key): add the pools by hand, or write a new file with -o")
    first = min(pools.key_locs.values(), key=lambda loc: loc.line)
    indent = first.col - 1
    step = _step(pools, indent)
    later = [loc.line for loc in raw.key_locs.values() if loc.line > start]
    end = (min(later) - 1) if later else len(lines)     # last line number of the block
    last = start
    for number in range(start, end + 1):
        line = lines[number - 1]
        if line.strip() and not line.startswith("#"):
            last = number
    body = []
    for pool in new:
        body += comment_lines("Added by `orch site init --merge`.", indent)
        body += render_pool(pool, indent, step)
    block = ["\n"] + [ln + "\n" for ln in body]
    if not lines[last - 1].endswith("\n"):
        block.insert(0, "\n")
    return "".join(lines[:last] + block + lines[last:])


def _step(pools: YDict, indent: int) -> int:
    for name in pools:
        body = pools[name]
        if isinstance(body, YDict) and body.key_locs:
            col = min(loc.col for loc in body.key_locs.values()) - 1
            if col > indent:
                return col - indent
    return 2
