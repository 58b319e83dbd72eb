"""`orch validate WORKFLOW [--site SITE]`: check a spec (and its fit on a site)."""

from __future__ import annotations

import argparse
import json

from orchestrator.cli.commands.common import add_workflow_args, load_both

NAME = "validate"
HELP = "check a workflow spec (and, with --site, that it fits the site); exit 1 on errors"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_workflow_args(p)
    p.add_argument("--format", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    if _is_site_file(args.workflow):
        return _validate_site(args)
    spec, site = load_both(args, need_site=False)
    plan = None
    if site is not None:
        from orchestrator.plan.build import build_plan

        plan = build_plan(spec, site)
    wf = spec.workflow
    if args.format == "json":
        out = {"ok": True, "workflow": wf.name, "stages": len(wf.stages),
               "params": spec.params, "sources": [s.path for s in spec.sources],
               "diagnostics": []}
        if plan is not None:
            out.update(site=plan.site, tasks=plan.task_count, warnings=list(plan.warnings))
        print(json.dumps(out, indent=2))
        return 0
    what = f"workflow {wf.name!r}: {len(wf.stages)} stage(s)"
    if plan is not None:
        what += f", {plan.task_count:,} task(s) fit site {plan.site!r}"
        for w in plan.warnings:
            print(f"warning: {w}")
    print(f"ok: {args.workflow}: {what}")
    return 0


def _is_site_file(path: str) -> bool:
    """`orch validate site-configs/x.yaml` checks a site config (it says `kind: site`).

    A cheap textual look at the top of the file: the real parse happens once, later."""
    import re

    try:
        with open(path, "rb") as f:
            head = f.read(65536).decode("utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"^kind:\s*[\"']?site[\"']?\s*(#.*)?$", head, re.MULTILINE) is not None


def _validate_site(args: argparse.Namespace) -> int:
    from orchestrator.site.load import load_site

    loaded = load_site(args.workflow)
    site = loaded.site
    pools = ", ".join(f"{n} ({p.device})" for n, p in site.pools.items())
    if args.format == "json":
        print(json.dumps({"ok": True, "site": site.name, "scheduler": site.scheduler,
                          "pools": list(site.pools), "diagnostics": []}, indent=2))
    else:
        print(f"ok: {args.workflow}: site {site.name!r} ({site.scheduler}), pools: {pools}")
    return 0
