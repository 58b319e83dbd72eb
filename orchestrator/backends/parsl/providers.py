"""A scheduler's provider description (schedulers.base.ProviderSpec) made into Parsl's
provider and launcher objects: the one place the scheduler seam meets Parsl."""

from __future__ import annotations

from typing import Any

from parsl import launchers, providers

from orchestrator.schedulers.base import ProviderSpec


def build(spec: ProviderSpec) -> Any:
    kwargs = dict(spec.kwargs)
    if spec.launcher is not None:
        kind, args = spec.launcher
        kwargs["launcher"] = getattr(launchers, kind)(**args)
    return getattr(providers, spec.cls)(**kwargs)
