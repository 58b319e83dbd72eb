"""Schedulers, one module each, found by the site's `scheduler:` value.

Every module of this package (other than `base` and private ones) that sets `SCHEDULER`
is registered under `SCHEDULER.name`: adding a scheduler is adding its module (and a site
config that uses it). The site model's `scheduler:` choices and its per-scheduler
sections (`slurm:`, `pbspro:`, ...) come from here. No Parsl: only `Scheduler.provider`
imports it, when called.
"""

from __future__ import annotations

import importlib
import pkgutil

from orchestrator.schedulers.base import Capabilities, Scheduler, SchedulerOptions, ScriptParts

__all__ = ["Capabilities", "Scheduler", "SchedulerOptions", "ScriptParts", "batch", "every",
           "get", "names"]


def _discover() -> dict[str, Scheduler]:
    found: dict[str, Scheduler] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        scheduler = getattr(module, "SCHEDULER", None)
        if isinstance(scheduler, Scheduler):
            if scheduler.name in found:
                raise RuntimeError(f"two schedulers named {scheduler.name!r}")
            found[scheduler.name] = scheduler
    return dict(sorted(found.items()))


REGISTRY: dict[str, Scheduler] = _discover()


def names() -> tuple[str, ...]:
    """Registered scheduler names, sorted: the site's `scheduler:` choices."""
    return tuple(REGISTRY)


def get(name: str) -> Scheduler:
    """The scheduler a site names (the site model only admits registered names)."""
    return REGISTRY[name]


def every() -> tuple[Scheduler, ...]:
    """Every registered scheduler, in name order."""
    return tuple(REGISTRY.values())


def batch() -> tuple[Scheduler, ...]:
    """Schedulers whose blocks are batch jobs (they have job ids to record and cancel)."""
    return tuple(s for s in REGISTRY.values() if s.capabilities.batch)
