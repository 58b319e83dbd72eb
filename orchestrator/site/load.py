"""Load a site config with located diagnostics; resolve `auto` sizes for local sites."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.errors import Diagnostic, Loc, SiteError, SpecError
from orchestrator.site.models import Pool, Site
from orchestrator.spec.diagnose import diagnostics_from
from orchestrator.spec.locate import locate
from orchestrator.spec.yamlio import YDict, load_yaml_file, load_yaml_text

PACKAGED_SITES = Path(__file__).resolve().parents[2] / "site-configs"
DEFAULT_SITE = "laptop"


@dataclass(frozen=True)
class LoadedSite:
    site: Site
    path: Path | None
    raw: Any = field(repr=False, default=None)

    def locate(self, *path: Any, key: bool = False) -> Loc | None:
        return locate(self.raw, path, key=key) if self.raw is not None else None


def find_site(ref: str | None) -> Path:
    """A path, or the name of a shipped site config (`laptop`, `local-slurm`, ...)."""
    ref = ref or DEFAULT_SITE
    path = Path(ref)
    if path.is_file():
        return path
    for cand in (PACKAGED_SITES / ref, PACKAGED_SITES / f"{ref}.yaml"):
        if cand.is_file():
            return cand
    known = sorted(p.stem for p in PACKAGED_SITES.glob("*.yaml")) if PACKAGED_SITES.is_dir() else []
    raise SiteError([Diagnostic(None, "--site", f"{ref!r}: no such file or shipped site",
                                hint="shipped sites: " + ", ".join(known) if known else None)])


def load_site(ref: str | Path | None = None) -> LoadedSite:
    path = find_site(str(ref) if ref is not None else None)
    try:
        raw = load_yaml_file(path)
    except SpecError as exc:
        raise SiteError(exc.diagnostics) from None
    return _validated(raw, path)


def load_site_text(text: str, path: Path) -> LoadedSite:
    """A site config not yet on disk (what `orch site init` is about to write to `path`):
    diagnostics name `path`, relative prefixes are relative to its directory."""
    try:
        raw = load_yaml_text(text, str(path))
    except SpecError as exc:
        raise SiteError(exc.diagnostics) from None
    return _validated(raw, path)


def _validated(raw: Any, path: Path) -> LoadedSite:
    if not isinstance(raw, YDict):
        raise SiteError([Diagnostic(Loc(str(path), 1, 1), "", "a site config must be a mapping")])
    try:
        site = Site.model_validate(raw)
    except ValidationError as exc:
        raise SiteError(diagnostics_from(exc, raw, Site)) from None
    return LoadedSite(_resolve_auto(_absolute_prefixes(site, path)), path, raw)


def _absolute_prefixes(site: Site, path: Path) -> Site:
    """Environment prefixes written relative (`./` or `../`) are relative to the site
    file's directory, so a project can ship a site that points at its own venvs."""
    base = str(path.resolve().parent)
    envs = {name: env.relative_to(base) for name, env in site.environments.items()}
    return site.model_copy(update={"environments": envs})


def _resolve_auto(site: Site) -> Site:
    """`auto` cores/memory describe the machine we run on (only sensible for local sites)."""
    pools = {}
    for name, pool in site.pools.items():
        update: dict[str, Any] = {}
        if pool.cores_per_node == "auto":
            update["cores_per_node"] = _cpu_count()
        if pool.memory_per_node == "auto":
            update["memory_per_node"] = _memory_bytes()
        pools[name] = pool.model_copy(update=update) if update else pool
    return site.model_copy(update={"pools": pools})


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def pool_cores(pool: Pool) -> int:
    return pool.cores_per_node if isinstance(pool.cores_per_node, int) else _cpu_count()
