"""deepmd-train: one DeePMD-kit model, `dp train` then `dp freeze` (the step library's
`deepmd-train`, docs/templates.md#step-library).

The training data are labelled frame files (orchestrator/library/atomistic/frames.py):
`data` (a path or a list, e.g. `${stages.label.outputs.labels}`), then the `data_file` /
`data_files` of each upstream stage's result (an `init` stage's), then, in a loop, every
file the loop's feedback records list in `data_files` (what the previous iteration
labelled), in that order, once each. The members of an ensemble differ by their seeds
only, as in DP-GEN, so that where the data say little they disagree."""

from __future__ import annotations

import time
from typing import Any

from orchestrator.library.atomistic import codes, deepmd
from orchestrator.library.atomistic import frames as fr
from orchestrator.library.stage_io import input_paths, iteration_of, task_dir


def _listed(record: Any, keys: tuple[str, ...]) -> list[str]:
    if not isinstance(record, dict):
        return []
    for key in keys:
        value = record.get(key)
        if value:
            return [value] if isinstance(value, str) else list(value)
    return []


def data_so_far(results: dict[str, list[Any]] | None,
                feedback: dict[str, list[Any]] | None, data: Any = None,
                context: dict[str, Any] | None = None) -> list[str]:
    """The frame files to train on, in order, once each (as resolved paths). The initial
    data (`data`, or upstream results) must be there; the loop's feedback adds to it."""
    files = [str(p) for p in input_paths(data, context)]
    for records in (results or {}).values():
        for rec in records:
            files += _listed(rec, ("data_file", "data_files"))
    if not files:
        raise RuntimeError("train has no initial data: give args.data (labelled frame files, "
                           "e.g. ${stages.label.outputs.labels}) or need a stage whose result "
                           "names them in `data_file` (init's result)")
    for records in (feedback or {}).values():
        for rec in records:
            files += _listed(rec, ("data_files", "data_file"))
    out: list[str] = []
    for f in files:
        if f not in out:
            out.append(f)
    return out


def train(member: int = 0, data: Any = None, steps: int = 2000, rcut: float = 4.5,
          seed: int = 0, neurons: list[int] | None = None, sel: int = 64,
          type_map: list[str] | None = None, results: dict[str, list[Any]] | None = None,
          feedback: dict[str, list[Any]] | None = None,
          context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Train and freeze one member; `type_map` defaults to the data's elements, sorted."""
    start = time.perf_counter()
    out = task_dir(context)
    iteration = iteration_of(context)
    files = data_so_far(results, feedback, data, context)
    frames = fr.load_many(files)
    names = list(type_map or fr.type_map_of(fr.symbols_of(frames, files[0])))
    data_dir = fr.write_deepmd(out / "data", frames, names)
    s = fr.seed_of(seed, member, iteration) % (2**31)
    config = deepmd.input_json([str(data_dir)], s, int(steps), float(rcut),
                               neurons or [64, 64], names, int(sel))
    seconds = deepmd.train_and_freeze(out, config, codes.threads_of(context))
    lcurve = deepmd.last_lcurve(out / deepmd.LCURVE)
    n = len(frames["positions"])
    print(f"member {member}, iteration {iteration}: {n} frames, {steps} steps in "
          f"{seconds['train_seconds']:.1f} s; train force RMSE {lcurve.get('rmse_f_trn')}",
          flush=True)
    return {"member": int(member), "model": str(out / deepmd.MODEL), "train_frames": n,
            "data_files": files, "type_map": names, "lcurve": lcurve, **seconds,
            "seconds": time.perf_counter() - start}
