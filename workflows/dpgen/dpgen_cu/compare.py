"""compare: is selecting by model deviation worth it? DP-GEN's claim, measured.

For each seed, one model is trained (the same input, steps and seed for every strategy)
on init's frames plus N reference-labelled frames, N being what the loop labelled in
all, chosen three ways:
- `loop`: the frames the loop selected by model deviation (no new reference calls);
- `uniform`: N frames drawn uniformly from every trajectory the loop explored;
- `md`: N frames from MD at the temperatures the loop explored, without any model
  (EMT-driven and scaled to the reference's lattice, as the test set; with
  `reference: emt` this is reference-driven MD).
Each is scored on the held-out test set. The baselines' frames are saved in random
order, so that any prefix of them is a smaller sample of the same kind (the learning
curves of benchmarks/dpgen_curves.py train on prefixes). Reference calls are counted for each: the
loop's include nothing for choosing (its exploration is model MD), the baselines' the
N labels; reference-driven MD would also spend `every` reference calls per frame to
move (reported as `md_drive_calls`, not run unless the reference is EMT)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dpgen_cu import evaluate, init, reference, select_frames
from orchestrator.library.atomistic import codes, deepmd
from orchestrator.library.atomistic import frames as fr
from orchestrator.library.stage_io import first, task_dir

STRATEGIES = ("loop", "uniform", "md")


def _loop_facts(results: dict[str, list[Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    sel = first(results, "select", "baseline")
    history = select_frames.with_labels(sel["history"], results.get("label") or [])
    files = list(sel["data_files"])
    for rec in results.get("label") or []:
        files += [f for f in rec["data_files"] if f not in files]
    return history, files


def _uniform(history: list[dict[str, Any]], n: int, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray]:
    parts = [fr.load(f) for h in history for f in h.get("frames_files", [])]
    pos = np.concatenate([p["positions"] for p in parts])
    cells = np.concatenate([p["cells"] for p in parts])
    pick = rng.choice(len(pos), size=min(n, len(pos)), replace=False)   # random order:
    return pos[pick], cells[pick]                    # any prefix is a uniform draw too


def _md(history: list[dict[str, Any]], n: int, n_cells: int, every: int, seed: int,
        method: str) -> tuple[np.ndarray, np.ndarray]:
    temps = sorted({t for h in history for t in h["temperatures"]})
    per = [n // len(temps) + (1 if i < n % len(temps) else 0) for i in range(len(temps))]
    frames = []
    for i, (t, k) in enumerate(zip(temps, per, strict=True)):
        if k:
            frames += init.md_frames(n_cells, float(t), k, every,
                                     fr.seed_of(seed, 0xB45E, i), reference.lattice(method))
    order = np.random.default_rng(fr.seed_of(seed, 0xB45F)).permutation(len(frames))
    frames = [frames[i] for i in order]          # any prefix mixes the temperatures
    return (np.array([a.positions for a in frames]), np.array([a.cell.array for a in frames]))


def baseline(strategy: str, seed: int, n_cells: int = 2, steps: int = 2000,
             rcut: float = 4.5, every: int = 25, reference_method: str = "emt",
             results: dict[str, list[Any]] | None = None,
             context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """One strategy, one seed: its frames, their labels, one model, its test errors."""
    start = time.perf_counter()
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy {strategy!r}: one of {', '.join(STRATEGIES)}")
    results = results or {}
    init_rec = (results.get("init_data") or [None])[0]
    test = (results.get("testset") or [None])[0]
    if init_rec is None or test is None:
        raise RuntimeError("baseline needs init_data's and testset's results")
    history, loop_files = _loop_facts(results)
    n = sum(int(h.get("labelled", 0)) for h in history)
    out = task_dir(context)
    rng = np.random.default_rng(fr.seed_of(seed, STRATEGIES.index(strategy), 0xC0))
    label_seconds, calls = 0.0, 0
    if strategy == "loop":
        files = loop_files
    else:
        pos, cells = (_uniform(history, n, rng) if strategy == "uniform" else
                      _md(history, n, int(n_cells), int(every), int(seed), reference_method))
        data = reference.label(pos, cells, reference_method)
        label_seconds, calls = float(data["seconds"].sum()), len(pos)
        fr.save(out / "labels.npz", **{k: v for k, v in data.items() if k != "seconds"})
        files = [init_rec["data_file"], str(out / "labels.npz")]
    frames = fr.load_many(files)
    data_dir = fr.write_deepmd(out / "data", frames, [reference.ELEMENT])
    s = fr.seed_of(seed, 0x7EA1) % (2**31)      # the same for every strategy
    config = deepmd.input_json([str(data_dir)], s, int(steps), float(rcut), [64, 64],
                               [reference.ELEMENT])
    deepmd.train_and_freeze(out, config, codes.threads_of(context))
    errs = evaluate.errors([str(out / deepmd.MODEL)], fr.load(test["test_file"]))
    print(f"{strategy} seed {seed}: {len(frames['positions'])} frames ({calls} new labels): "
          f"test force RMSE {errs['test_force_rmse']:.4f} eV/Å, energy "
          f"{errs['test_energy_rmse_mev']:.2f} meV/atom", flush=True)
    return {"strategy": strategy, "seed": int(seed), "labelled": n,
            "train_frames": len(frames["positions"]), "new_reference_calls": calls,
            "reference_seconds": label_seconds,
            "md_drive_calls": n * int(every) if strategy == "md" else 0, **errs,
            "seconds": time.perf_counter() - start}


def summarise(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per strategy: mean and spread of the test errors over seeds, and its costs."""
    out: dict[str, dict[str, float]] = {}
    for strategy in STRATEGIES:
        rs = [r for r in records if r["strategy"] == strategy]
        if not rs:
            continue
        f = np.array([r["test_force_rmse"] for r in rs])
        e = np.array([r["test_energy_rmse_mev"] for r in rs])
        out[strategy] = {"seeds": len(rs), "force_rmse_mean": float(f.mean()),
                         "force_rmse_min": float(f.min()), "force_rmse_max": float(f.max()),
                         "energy_rmse_mev_mean": float(e.mean()),
                         "labels": int(rs[0]["labelled"]),
                         "new_reference_calls": int(np.mean([r["new_reference_calls"]
                                                             for r in rs])),
                         "md_drive_calls": int(rs[0]["md_drive_calls"])}
    return out


def table(summary: dict[str, dict[str, float]], loop_calls: int) -> list[str]:
    """The comparison as text: reference calls to reach each strategy's error."""
    lines = [f"{'strategy':<9} {'seeds':>5} {'labels':>6} {'F RMSE eV/Å (min-max)':>24} "
             f"{'E meV/at':>8} {'ref calls':>9}"]
    for name, s in summary.items():
        calls = loop_calls if name == "loop" else loop_calls - s["labels"] + \
            s["new_reference_calls"]
        drive = f" (+{s['md_drive_calls']} to drive the MD with the reference)" \
            if s["md_drive_calls"] else ""
        lines.append(f"{name:<9} {s['seeds']:>5} {s['labels']:>6} "
                     f"{s['force_rmse_mean']:>9.4f} ({s['force_rmse_min']:.4f}-"
                     f"{s['force_rmse_max']:.4f}) {s['energy_rmse_mev_mean']:>8.2f} "
                     f"{calls:>9}{drive}")
    return lines
