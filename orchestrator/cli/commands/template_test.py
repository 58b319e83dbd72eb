"""`orch templates test NAME [--site SITE] [--run-dir DIR]`: validate, plan and run a
template's small example on a site (the laptop by default), one line per step.

The example is a complete workflow that includes the template (example.yaml beside a
directory template's template.yaml, or the file its `example:` names); its own folder is
its workflow directory, so the python modules beside it resolve. A template without an
example is validated and planned standing alone, and says so. Exit codes as everywhere:
0 ok, 1 spec error, 3 tasks failed (docs/templates.md#orch-templates-test).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HELP = "validate, plan and run a template's example on a site (default: laptop)"


def add_parser(sub) -> None:
    p = sub.add_parser("test", help=HELP, description=HELP + "; without an example, validate "
                       "and plan the template standing alone")
    p.add_argument("name", metavar="NAME", help="a template name, or SOURCE:NAME[@VERSION]")
    p.add_argument("--site", metavar="SITE", default="laptop",
                   help="site config: a path or a shipped name (default: laptop)")
    p.add_argument("--run-dir", type=Path, metavar="DIR",
                   help="where to run the example (default: a temporary folder, removed when "
                        "it passes)")
    p.add_argument("--format", choices=["text", "json"], default="text")


class _Steps:
    def __init__(self, text: bool):
        self.text = text
        self.items: list[dict[str, Any]] = []

    def add(self, step: str, ok: bool, detail: str, status: str | None = None) -> None:
        status = status or ("ok" if ok else "FAILED")
        self.items.append({"step": step, "ok": ok, "status": status, "detail": detail})
        if self.text:
            print(f"  {step:<9} {status:<7} {detail}", flush=True)


def run(args: argparse.Namespace) -> int:
    from orchestrator.errors import UserError
    from orchestrator.site.load import load_site
    from orchestrator.spec.compose import display_name
    from orchestrator.spec.templates import find

    started = time.monotonic()
    info = find(args.name)
    text = args.format == "text"
    if info.example_error:
        raise UserError(f"{display_name(info.path)}: {info.example_error}")
    if text:
        print(f"template {info.name} {info.version or ''}".rstrip()
              + f" ({display_name(info.path)})")
    steps = _Steps(text)
    site = load_site(args.site)
    workflow = info.example or info.path
    spec, detail = _step(steps, "validate", lambda: _validate(info, workflow))
    steps.add("validate", True, detail)
    plan = _step(steps, "plan", lambda: _plan(spec, site))
    steps.add("plan", True, f"{plan.task_count:,} task(s) on site {plan.site!r}")
    result: dict[str, Any] = {"ok": True, "template": info.name, "version": info.version,
                              "path": str(info.path), "site": plan.site,
                              "example": str(info.example) if info.example else None,
                              "steps": steps.items, "run_dir": None, "state": None}
    if info.example is None:
        steps.add("run", True, "no example to run (example.yaml beside template.yaml, or "
                  "`example: FILE` in the template)", status="skipped")
        if text:
            print(f"ok: {info.name}: no example: validated and planned only (site "
                  f"{plan.site!r})")
        else:
            print(json.dumps({**result, "note": "no example: validated and planned only"},
                             indent=2))
        return 0
    rc, state, run_dir = _run(steps, info.example, args.site, args.run_dir)
    result.update(ok=rc == 0, state=state, run_dir=str(run_dir) if run_dir else None)
    seconds = time.monotonic() - started
    if text:
        if rc == 0:
            print(f"ok: {info.name} passes its example on site {plan.site!r} ({seconds:.1f} s)")
        else:
            print(f"FAILED: {info.name}'s example {state} on site {plan.site!r}; run "
                  f"directory {run_dir} (orch status / orch logs)", file=sys.stderr)
    else:
        print(json.dumps({**result, "seconds": round(seconds, 3)}, indent=2))
    return rc


def _step(steps: _Steps, name: str, fn):
    from orchestrator.errors import UserError

    try:
        return fn()
    except UserError:
        steps.add(name, False, "(see below)")
        raise


def _validate(info, workflow: Path):
    from orchestrator.errors import SpecError
    from orchestrator.spec.compose import display_name
    from orchestrator.spec.load import load_spec

    spec = load_spec(workflow)
    wf = spec.workflow
    if info.example is None:
        detail = f"template standing alone: {len(wf.stages)} stage(s)"
    else:
        target = info.path.resolve()
        if not any(_same(s.path, target) for s in spec.sources):
            raise SpecError(f"{display_name(workflow)}: the example does not include template "
                            f"{info.name!r} ({display_name(info.path)}): `include:` or "
                            "`extends:` it (by name, or `template.yaml` beside it)")
        detail = (f"{display_name(workflow)}: workflow {wf.name!r}, {len(wf.stages)} stage(s), "
                  f"includes {info.name}")
    return spec, detail


def _same(shown: str, target: Path) -> bool:
    try:
        return Path(shown).resolve() == target
    except OSError:
        return False


def _plan(spec, site):
    from orchestrator.plan.build import build_plan

    return build_plan(spec, site)


def _run(steps: _Steps, example: Path, site: str,
         run_dir: Path | None) -> tuple[int, str, Path | None]:
    from orchestrator.backends.attempt import RunRequest
    from orchestrator.backends.lifecycle import Reporter, run_attempt

    scratch = None
    if run_dir is None:
        scratch = Path(tempfile.mkdtemp(prefix="orch-template-test-"))
        run_dir = scratch / "run"
    request = RunRequest(str(example), site=site, run_dir=run_dir, quiet=True,
                         argv=["templates", "test", str(example)])
    ended = run_attempt(request, Reporter(notice=lambda line: print(line, file=sys.stderr),
                                          started=lambda path: None))
    if ended.outcome is None:
        steps.add("run", False, f"interrupted; run directory {ended.rundir.path}")
        return 130, "interrupted", ended.rundir.path
    out = ended.outcome
    counts = ", ".join(f"{v} {k}" for k, v in sorted(out.counts.items()))
    ok = out.state == "succeeded"
    where = "" if ok and scratch else f"; run directory {ended.rundir.path}"
    loops = "".join(f"; loop {name}: {info['iterations']} iteration(s), ended by "
                    f"{info['reason']}" for name, info in out.loops.items())
    steps.add("run", ok, f"{out.state}: {counts} in {ended.seconds:.1f}s{loops}{where}")
    for f in out.failed:
        print(f"    failed: {f['task']}: {f['error']}\n    logs: {f['stderr']}", file=sys.stderr)
    if ok and scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
        return 0, out.state, None
    return (0 if ok else 3), out.state, ended.rundir.path
