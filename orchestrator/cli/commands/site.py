"""`orch site init`: probe the batch system and write a commented site config.

The probing is the scheduler's (`Scheduler.probe`, orchestrator/schedulers/), the mapping
site/init.py, the YAML site/init_yaml.py; this command picks the scheduler (--scheduler,
else the one whose commands are on PATH), checks the result loads as a site, and writes it
atomically.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

NAME = "site"
HELP = "set up a site config: `orch site init` probes Slurm or PBS Pro and writes one"
INIT_HELP = ("probe the batch system (Slurm: sinfo, scontrol; PBS Pro: qstat, pbsnodes) and "
             "write a commented site config: partitions or queues as pools, GPUs (GRES, "
             "ngpus), XPU node features, cores, memory, time limits")



def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    sub.required = True
    init = sub.add_parser("init", help=INIT_HELP, description=INIT_HELP)
    init.add_argument("-o", "--output", metavar="FILE",
                      help="where to write (default: standard output; with --merge, the "
                           "merged file itself); `-` is standard output")
    init.add_argument("--force", action="store_true", help="overwrite an existing --output")
    init.add_argument("--merge", metavar="EXISTING", type=Path,
                      help="add the partitions EXISTING lacks to it, keeping every line "
                           "already there (comments and edits included)")
    init.add_argument("--pools", metavar="A,B", type=_names,
                      help="keep only these pools (pool names are partition names, and an "
                           "XPU node feature's name)")
    init.add_argument("--name", metavar="SITE",
                      help="the site's name (default: Slurm's ClusterName, PBS's server)")
    init.add_argument("--scheduler", metavar="NAME", default="auto",
                      help="the batch system to probe: slurm, pbspro (default auto: slurm "
                           "when `sinfo` is on PATH, else pbspro when `qstat` and "
                           "`pbsnodes` are)")


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give pool names, e.g. --pools cpu,gpu")
    return names


def run(args: argparse.Namespace) -> int:
    from orchestrator import schedulers
    from orchestrator.site.init import draft_site

    scheduler = schedulers.get(_detect(args.scheduler))
    cluster = scheduler.probe()
    draft = draft_site(cluster, name=args.name, keep=args.pools)
    if args.merge is not None:
        text, target, summary = _merged(args, draft)
    else:
        target = _target(args.output)
        text = _rendered(draft, target)
        summary = [f"pools: {_pool_list(draft.pools)}"]
    _check(text, target)
    in_place = args.merge is not None and target is not None and (
        target.resolve() == args.merge.resolve())
    _write(text, target, args.force or in_place)
    where = "standard output" if target is None else str(target)
    queue = draft.hints.term("queue") if draft.hints else "partition"
    print(f"orch site init: {scheduler.capabilities.label} {cluster.version}, cluster "
          f"{cluster.name or '?'}: {len(cluster.partitions)} {queue}(s), "
          f"{len(cluster.nodes)} node(s); wrote {where}", file=sys.stderr)
    checks = text.count("# CHECK")
    if checks:
        summary.append(f"{checks} comment(s) marked CHECK: what {scheduler.capabilities.label} "
                       "cannot tell; read them")
    if target is not None:
        summary.append(f"next: orch validate {target}; orch plan WORKFLOW --site {target}")
    for line in summary:
        print(f"  {line}", file=sys.stderr)
    return 0


def _detect(choice: str) -> str:
    """The scheduler to probe: the one named, else the first (`probe_order`) whose
    `probe_commands` are all on PATH."""
    from orchestrator import schedulers
    from orchestrator.errors import UsageError
    from orchestrator.schedulers.probe import SchedulerError

    if choice != "auto":
        if choice not in schedulers.names():
            raise UsageError(f"--scheduler {choice!r}: not a scheduler (choose from auto, "
                             f"{', '.join(schedulers.names())})")
        return choice
    found = sorted((s for s in schedulers.every() if s.probe_commands),
                   key=lambda s: (s.probe_order, s.name))
    for sched in found:
        if all(shutil.which(c) for c in sched.probe_commands):
            return sched.name

    raise SchedulerError(
        "no scheduler found: `sinfo` is not on PATH (Slurm), nor are `qstat` and `pbsnodes` "
        "(PBS Pro). `orch site init` probes a batch system: run it on a login node (after "
        "`module load slurm` or `module load pbs` where the site needs it), or write a site "
        "config by hand (docs/site.md)")


def _target(output: str | None) -> Path | None:
    return None if output in (None, "-") else Path(output)


def _rendered(draft, target: Path | None) -> str:
    from orchestrator.site.init_yaml import render_site

    return render_site(draft, str(target) if target else "SITE.yaml")


def _merged(args: argparse.Namespace, draft) -> tuple[str, Path | None, list[str]]:
    from orchestrator.errors import UserError
    from orchestrator.site.init_yaml import merge_site
    from orchestrator.site.load import load_site

    if not args.merge.is_file():
        raise UserError(f"--merge {args.merge}: no such file")
    loaded = load_site(args.merge)
    if loaded.site.scheduler != draft.scheduler:
        raise UserError(f"--merge {args.merge}: site {loaded.site.name!r} is a "
                        f"{loaded.site.scheduler} site; pools from {draft.scheduler} belong "
                        f"in a {draft.scheduler} one")
    text = args.merge.read_text(encoding="utf-8")
    merge = merge_site(text, loaded.raw, loaded.site, draft)
    target = args.merge if args.output is None else _target(args.output)
    added = [p for p in draft.pools if p.name in merge.added]
    summary = [f"added: {_pool_list(added) if added else 'nothing (no new partitions)'}"]
    if merge.kept:
        summary.append("already there: " + ", ".join(merge.kept))
    summary += merge.notes
    return merge.text, target, summary


def _pool_list(pools) -> str:
    return ", ".join(f"{p.name} ({p.device})" for p in pools)


def _check(text: str, target: Path | None) -> None:
    """What we write must load as a site; a failure here is reported, never written."""
    from orchestrator.site.load import load_site_text

    load_site_text(text, target or Path("<stdout>.yaml"))


def _write(text: str, target: Path | None, overwrite: bool) -> None:
    from orchestrator.errors import UserError
    from orchestrator.state.atomic import atomic_write_text

    if target is None:
        sys.stdout.write(text)
        return
    if target.is_dir():
        raise UserError(f"-o {target}: is a directory; give a file name (e.g. "
                        f"{target / 'mycluster.yaml'})")
    if target.exists() and not overwrite:
        raise UserError(f"{target}: exists; pass --force to overwrite it, or --merge {target} "
                        "to add the new partitions to it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, text)
    except OSError as exc:
        raise UserError(f"{target}: cannot write ({exc.strerror or exc})") from None
