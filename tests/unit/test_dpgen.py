"""workflows/dpgen's pure parts, without DeePMD-kit or LAMMPS: DP-GEN's trust-level
selection and convergence, the LAMMPS input and the parsing of what LAMMPS writes
(model_devi.out, the dump), the data carried through the loop, and how a failed code
becomes a failed task's message. Training, exploration and labelling are the step
library's templates (workflows/templates/deepmd-train, lammps-md), their shared code
orchestrator/library/atomistic."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
sys.path[:0] = [str(WORKFLOWS / "dpgen"), str(WORKFLOWS / "templates" / "deepmd-train"),
                str(WORKFLOWS / "templates" / "lammps-md")]

import deepmd_train  # noqa: E402
import lammps_md  # noqa: E402
from dpgen_cu import select_frames  # noqa: E402

from orchestrator.library.atomistic import codes, deepmd, frames, selection  # noqa: E402


def test_trust_levels_split_frames_at_lo_and_hi_and_nan_is_failed():
    dev = np.array([0.0, 0.049, 0.05, 0.2, 0.349, 0.35, 3.0, np.nan, np.inf])
    cls = selection.classify(dev, 0.05, 0.35)
    A, C, F = selection.ACCURATE, selection.CANDIDATE, selection.FAILED
    assert cls.tolist() == [A, A, C, C, C, F, F, F, F]
    fr = selection.fractions(cls)
    assert fr == pytest.approx({"accurate_fraction": 2 / 9, "candidate_fraction": 3 / 9,
                                "failed_fraction": 4 / 9})
    assert sum(fr.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("lo,hi", [(0.3, 0.3), (0.5, 0.1), (-0.1, 1.0)])
def test_trust_levels_must_be_ordered(lo, hi):
    with pytest.raises(ValueError, match="trust_lo < trust_hi"):
        selection.classify(np.zeros(3), lo, hi)


def test_no_frames_is_not_accurate():
    assert selection.fractions(np.array([], dtype=np.int8))["accurate_fraction"] == 0.0


def test_pick_takes_only_candidates_at_most_max_and_is_seeded():
    cls = selection.classify(np.linspace(0, 1, 101), 0.2, 0.8)
    candidates = set(np.flatnonzero(cls == selection.CANDIDATE))
    a = selection.pick(cls, 10, np.random.default_rng(1))
    b = selection.pick(cls, 10, np.random.default_rng(1))
    c = selection.pick(cls, 10, np.random.default_rng(2))
    assert len(a) == 10 and set(a) <= candidates and list(a) == sorted(a)
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    # fewer candidates than max_select: all of them
    assert set(selection.pick(cls, 1000, np.random.default_rng(0))) == candidates


def test_convergence_is_the_accurate_fraction_reaching_the_threshold():
    assert selection.converged(0.95, 0.95) and selection.converged(1.0, 0.95)
    assert not selection.converged(0.949, 0.95)
    assert not selection.converged(float("nan"), 0.0)


def test_lammps_input_runs_the_ensemble_with_model_deviation_output():
    text = lammps_md.lammps_input(["m0.pb", "m1.pb", "m2.pb"], 600.0, 1.0, 3000, 30, 7)
    assert "pair_style deepmd m0.pb m1.pb m2.pb out_freq 30 out_file model_devi.out" in text
    assert "fix 1 all npt temp 600.0 600.0" in text and "iso 1.0 1.0" in text
    assert "dump traj all custom 30 traj.dump id type x y z" in text and "run 3000" in text
    assert "velocity all create 600.0 7 " in text
    nvt = lammps_md.lammps_input(["a.pb", "b.pb"], 300.0, None, 10, 5, 1)
    assert "fix 1 all nvt temp 300.0 300.0" in nvt and "npt" not in nvt


def test_dump_and_model_devi_parse_to_frames_at_the_same_steps(tmp_path):
    dump = []
    for step, shift in ((0, 0.0), (30, 0.5)):
        dump += ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", "2",
                 "ITEM: BOX BOUNDS pp pp pp", f"{shift} {7.0 + shift}", "0 7.2", "0 7.4",
                 "ITEM: ATOMS id type x y z",
                 f"1 1 {1.0 + shift} 2.0 3.0", f"2 1 {4.0 + shift} 5.0 6.0"]
    (tmp_path / "traj.dump").write_text("\n".join(dump) + "\n")
    steps, pos, cells = lammps_md.read_dump(tmp_path / "traj.dump")
    assert steps.tolist() == [0, 30]
    assert pos.shape == (2, 2, 3) and pos[1, 0].tolist() == [1.0, 2.0, 3.0]  # minus xlo
    assert np.diag(cells[0]).tolist() == pytest.approx([7.0, 7.2, 7.4])
    (tmp_path / "model_devi.out").write_text(
        "#  step max_devi_v min_devi_v avg_devi_v max_devi_f min_devi_f avg_devi_f\n"
        "0 0.1 0.0 0.05 0.01 0.001 0.005\n30 0.2 0.0 0.1 0.42 0.1 0.2\n")
    dsteps, devi = lammps_md.read_devi(tmp_path / "model_devi.out")
    assert dsteps.tolist() == [0, 30] and devi.tolist() == [0.01, 0.42]  # max_devi_f


def test_data_so_far_is_init_then_every_labelled_file_once_in_order():
    results = {"init_data": [{"data_file": "/r/init.npz"}]}
    assert deepmd_train.data_so_far(results, None) == ["/r/init.npz"]
    feedback = {"label": [{"data_files": ["/r/init.npz", "/r/l1.npz", "/r/l2a.npz"]},
                          {"data_files": ["/r/init.npz", "/r/l1.npz", "/r/l2b.npz"]}]}
    assert deepmd_train.data_so_far(results, feedback) == [
        "/r/init.npz", "/r/l1.npz", "/r/l2a.npz", "/r/l2b.npz"]
    with pytest.raises(RuntimeError, match="init's result"):
        deepmd_train.data_so_far({}, feedback)


def test_label_shards_add_their_counts_and_seconds_to_the_last_iteration():
    history = [{"iteration": 1, "labelled": 5}, {"iteration": 2}]
    labels = [{"labelled": 3, "reference_seconds": 1.5},
              {"labelled": 2, "reference_seconds": 0.5}]
    out = select_frames.with_labels(history, labels)
    assert out[0] == history[0] and out[1]["labelled"] == 5
    assert out[1]["label_seconds"] == pytest.approx(2.0)
    assert select_frames.with_labels([], labels) == []


def test_members_get_different_seeds_and_the_input_names_the_data():
    a = deepmd.input_json(["/d"], 11, 400, 4.5, [32, 32])
    assert a["training"]["training_data"]["systems"] == ["/d"]
    assert a["model"]["descriptor"]["seed"] == 11 and a["training"]["numb_steps"] == 400
    assert a["model"]["descriptor"]["rcut"] == 4.5
    seeds = {frames.seed_of(0, m, 1) for m in range(8)}
    assert len(seeds) == 8 and frames.seed_of(0, 1, 1) != frames.seed_of(0, 1, 2)


def test_deepmd_system_directory_has_the_layout_dp_reads(tmp_path):
    data = {"positions": np.zeros((3, 4, 3)), "cells": np.tile(np.eye(3) * 5, (3, 1, 1)),
            "energies": np.arange(3.0), "forces": np.ones((3, 4, 3)),
            "symbols": np.array(["Cu"] * 4)}
    d = frames.write_deepmd(tmp_path / "data", data)
    assert np.load(d / "set.000" / "coord.npy").shape == (3, 12)
    assert np.load(d / "set.000" / "box.npy").shape == (3, 9)
    assert np.load(d / "set.000" / "force.npy").shape == (3, 12)
    assert (d / "type.raw").read_text().split() == ["0"] * 4
    assert (d / "type_map.raw").read_text().strip() == "Cu"


def test_a_failed_code_is_an_error_naming_it_its_exit_code_and_stderr_tail(tmp_path):
    script = "echo out-line; for i in $(seq 1 30); do echo err-$i >&2; done; exit 3"
    with pytest.raises(codes.CodeFailed) as err:
        codes.run(["sh", "-c", script], tmp_path, "fake")
    msg = str(err.value)
    assert "exited with 3" in msg and "err-30" in msg and "err-16" in msg
    assert "err-15" not in msg                      # the last 15 lines only
    assert (tmp_path / "fake.err").read_text().count("err-") == 30   # the whole log kept
    with pytest.raises(codes.CodeFailed, match="not found on PATH"):
        codes.run(["no-such-code-xyz"], tmp_path, "missing")
    codes.run(["sh", "-c", "exit 0"], tmp_path, "ok")   # success raises nothing


def test_the_error_names_lammps_error_line_and_drops_tensorflow_chatter(tmp_path):
    script = ("echo 'LAMMPS (22 Jul 2025)'; echo 'ERROR on proc 0: DeePMD-kit C API Error: "
              "incompatible model'; "
              "echo 'WARNING: All log messages before absl::InitializeLog() is called' >&2; "
              "echo 'I0000 00:00:1796457881.832609   17586 port.cc:153] oneDNN custom' >&2; "
              "echo 'Abort(1) on node 0' >&2; exit 1")
    with pytest.raises(codes.CodeFailed) as err:
        codes.run(["sh", "-c", script], tmp_path, "lmp")
    lines = str(err.value).splitlines()
    assert lines[1] == "ERROR on proc 0: DeePMD-kit C API Error: incompatible model"
    assert lines[2:] == ["Abort(1) on node 0"]


def test_code_env_sets_thread_counts_from_the_task():
    env = codes.code_env(3)
    assert env["OMP_NUM_THREADS"] == "3" and env["DP_INTRA_OP_PARALLELISM_THREADS"] == "3"


def test_the_comparison_summarises_each_strategy_over_seeds_at_equal_budget():
    from dpgen_cu import compare

    recs = [{"strategy": s, "seed": k, "labelled": 48, "new_reference_calls": 0 if s == "loop"
             else 48, "md_drive_calls": 1200 if s == "md" else 0,
             "test_force_rmse": f, "test_energy_rmse_mev": 2.0}
            for s, fs in (("loop", [0.03, 0.05]), ("uniform", [0.04, 0.04]), ("md", [0.02]))
            for k, f in enumerate(fs)]
    summary = compare.summarise(recs)
    assert summary["loop"]["force_rmse_mean"] == pytest.approx(0.04)
    assert (summary["loop"]["force_rmse_min"], summary["loop"]["force_rmse_max"]) == (0.03, 0.05)
    assert summary["md"]["seeds"] == 1 and summary["uniform"]["seeds"] == 2
    lines = compare.table(summary, 96)
    assert len(lines) == 4
    # every strategy spends the same reference calls on labels: the loop's budget
    assert all(line.split()[-1] == "96" for line in lines[1:3])
    assert "96 (+1200 to drive the MD with the reference)" in lines[3]


def test_lammps_runs_under_the_mpi_launcher_with_more_than_one_rank():
    assert lammps_md.lammps_command(1) == ["lmp", "-in", "in.lammps", "-log", "log.lammps"]
    assert lammps_md.lammps_command(4)[:3] == ["mpiexec", "-n", "4"]
    assert lammps_md.lammps_command(2, "srun --mpi=pmi2")[:4] == ["srun", "--mpi=pmi2", "-n", "2"]
