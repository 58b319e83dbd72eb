"""The step library's pure parts, without ASE, DeePMD-kit or LAMMPS: which frame files a
deepmd-train task trains on, the files ase-label passes on, lammps-md's data file,
input and models, the model-deviation summary, frame files of several elements, and the
DP-GEN loop's history carried by feedback (workflows/templates/*/, orchestrator/library/
atomistic/; tests/integration/test_step_library.py runs the real codes)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
sys.path[:0] = [str(WORKFLOWS / "templates" / n) for n in ("deepmd-train", "lammps-md",
                                                           "ase-label")]
sys.path.insert(0, str(WORKFLOWS / "dpgen"))

import ase_label  # noqa: E402
import deepmd_train  # noqa: E402
import lammps_md  # noqa: E402
from dpgen_cu import select_frames  # noqa: E402

from orchestrator.library.atomistic import deepmd, frames  # noqa: E402


def _frames(n: int, symbols: list[str], **extra) -> dict[str, np.ndarray]:
    k = len(symbols)
    return {"positions": np.arange(n * k * 3, dtype=float).reshape(n, k, 3),
            "cells": np.tile(np.eye(3) * 6, (n, 1, 1)), "symbols": np.array(symbols),
            "energies": np.arange(float(n)), "forces": np.ones((n, k, 3)), **extra}


# ---- deepmd-train: the data ------------------------------------------------------------------
def test_train_data_is_args_then_upstream_results_then_feedback_once_each(tmp_path):
    task = tmp_path / "train[0]"
    (task / "inputs" / "label[0]").mkdir(parents=True)
    (tmp_path / "labels.npz").write_text("")
    (task / "inputs" / "label[0]" / "labels.npz").symlink_to(tmp_path / "labels.npz")
    ctx = {"task_dir": str(task)}
    results = {"init": [{"data_file": "/r/init.npz"}],
               "label": [{"data_file": str(tmp_path / "labels.npz"),     # the same file
                          "data_files": ["/r/other.npz"]}]}
    feedback = {"label": [{"data_files": ["/r/init.npz", "/r/l1.npz"]},
                          {"data_file": "/r/l2.npz"}]}
    got = deepmd_train.data_so_far(results, feedback, ["inputs/label[0]/labels.npz"], ctx)
    assert got == [str((tmp_path / "labels.npz").resolve()), "/r/init.npz", "/r/l1.npz",
                   "/r/l2.npz"]
    assert deepmd_train.data_so_far(None, None, "inputs/label[0]/labels.npz", ctx) == [
        str((tmp_path / "labels.npz").resolve())]


def test_train_without_initial_data_says_what_to_give():
    with pytest.raises(RuntimeError, match=r"give args\.data .*\$\{stages\.label"):
        deepmd_train.data_so_far({"x": [{"other": 1}, None]}, {"label": [{"data_file": "a"}]})


def test_input_json_names_every_type_and_its_neighbours():
    two = deepmd.input_json(["/d"], 1, 100, 5.0, [32], ["Cu", "O"], sel=40)
    assert two["model"]["type_map"] == ["Cu", "O"]
    assert two["model"]["descriptor"]["sel"] == [40, 40]
    assert next(iter(two["model"])) == "type_map"
    assert "type_map" not in deepmd.input_json(["/d"], 1, 100, 5.0, [32])["model"]


# ---- frame files -----------------------------------------------------------------------------
def test_frame_files_concatenate_frames_not_symbols_and_keep_common_arrays(tmp_path):
    a = frames.save(tmp_path / "a.npz", **_frames(2, ["Cu", "O"], virials=np.zeros((2, 3, 3))))
    b = frames.save(tmp_path / "b.npz", **_frames(3, ["Cu", "O"]))
    empty = frames.save(tmp_path / "e.npz", **{**_frames(0, ["Cu", "O"])})
    got = frames.load_many([a, empty, b])
    assert got["positions"].shape == (5, 2, 3) and list(got["symbols"]) == ["Cu", "O"]
    assert "virials" not in got                                  # b has none
    with pytest.raises(RuntimeError, match="no frames"):
        frames.load_many([empty])
    assert len(frames.load_many([empty], empty_ok=True)["positions"]) == 0
    c = frames.save(tmp_path / "c.npz", **_frames(1, ["O", "Cu"]))
    with pytest.raises(RuntimeError, match="other atoms"):
        frames.load_many([a, c])


def test_deepmd_system_of_two_elements_numbers_them_by_the_type_map(tmp_path):
    d = frames.write_deepmd(tmp_path / "data", _frames(2, ["O", "Cu", "O"]))
    assert (d / "type_map.raw").read_text().split() == ["Cu", "O"]      # sorted
    assert (d / "type.raw").read_text().split() == ["1", "0", "1"]
    d = frames.write_deepmd(tmp_path / "d2", _frames(2, ["O", "Cu", "O"]), ["O", "Cu", "H"])
    assert (d / "type.raw").read_text().split() == ["0", "1", "0"]
    with pytest.raises(RuntimeError, match=r"lacks \['O'\]"):
        frames.write_deepmd(tmp_path / "d3", _frames(1, ["O", "Cu"]), ["Cu"])
    no_symbols = {k: v for k, v in _frames(1, ["Cu"]).items() if k != "symbols"}
    with pytest.raises(RuntimeError, match="no `symbols`"):
        frames.write_deepmd(tmp_path / "d4", no_symbols)


# ---- lammps-md -------------------------------------------------------------------------------
def test_lammps_data_file_types_and_masses_follow_the_elements(tmp_path):
    pos = np.array([[0.0, 0, 0], [1, 1, 1], [2, 2, 2]])
    lammps_md.write_data(tmp_path / "conf.lmp", pos, np.diag([4.0, 5, 6]), ["O", "Cu", "O"],
                         ["Cu", "O"], [63.546, 15.999])
    text = (tmp_path / "conf.lmp").read_text()
    assert "3 atoms" in text and "2 atom types" in text and "0 5.0000000000 ylo yhi" in text
    assert "1 63.546\n2 15.999" in text
    assert "1 2 0.0000000000" in text and "2 1 1.0000000000" in text   # O is type 2
    with pytest.raises(RuntimeError, match="not orthogonal"):
        lammps_md.write_data(tmp_path / "t.lmp", pos, np.array([[4.0, 0, 0], [1, 5, 0],
                                                                [0, 0, 6]]),
                             ["O", "Cu", "O"], ["Cu", "O"], [1.0, 1.0])
    assert "pair_coeff * * Cu O\n" in lammps_md.lammps_input(["a", "b"], 300, None, 10, 5, 1,
                                                             elements=["Cu", "O"])


def test_the_structure_is_a_frame_files_first_frame(tmp_path):
    path = frames.save(tmp_path / "s.npz", **_frames(2, ["Cu", "Cu"]))
    pos, cell, symbols = lammps_md.read_structure(path)
    assert pos.tolist() == _frames(2, ["Cu", "Cu"])["positions"][0].tolist()
    assert symbols == ["Cu", "Cu"] and cell.tolist() == (np.eye(3) * 6).tolist()


def test_models_are_the_args_or_the_upstream_models_in_member_order(tmp_path):
    ctx = {"task_dir": str(tmp_path)}
    assert lammps_md.ensemble_models(["inputs/t0/g.pb", "inputs/t1/g.pb"], None, ctx) == [
        str((tmp_path / "inputs/t0/g.pb").resolve()), str((tmp_path / "inputs/t1/g.pb").resolve())]
    results = {"train": [{"member": 1, "model": "/m1.pb"}, {"member": 0, "model": "/m0.pb"}],
               "init": [{"data_file": "x"}]}
    assert lammps_md.ensemble_models(None, results, ctx) == ["/m0.pb", "/m1.pb"]
    with pytest.raises(RuntimeError, match="at least two"):
        lammps_md.ensemble_models(None, {"train": [{"member": 0, "model": "/m0.pb"}]}, ctx)
    with pytest.raises(RuntimeError, match="spaces"):
        lammps_md.ensemble_models(["/a b/g.pb", "/c.pb"], None, ctx)


def test_the_summary_has_the_deviation_and_dpgens_fractions():
    devi = np.array([0.0, 0.05, 0.2, 0.4])
    got = lammps_md.summarise(devi, 0.1, 0.35)
    assert got["frames"] == 4 and got["max_devi_f"]["max"] == 0.4
    assert got["max_devi_f"]["median"] == pytest.approx(0.125)
    assert (got["accurate_fraction"], got["candidate_fraction"], got["failed_fraction"]) == (
        0.5, 0.25, 0.25)
    assert "accurate_fraction" not in lammps_md.summarise(devi, None, None)
    assert lammps_md.summarise(np.array([]), None, None) == {"frames": 0}


# ---- ase-label -------------------------------------------------------------------------------
def test_label_passes_on_the_growing_data_set_once_each():
    results = {"select": [{"data_files": ["/init.npz", "/l1.npz"]}, None],
               "other": [{"data_files": ["/l1.npz", "/l2.npz"]}, {"x": 1}]}
    assert ase_label.upstream_files(results) == ["/init.npz", "/l1.npz", "/l2.npz"]
    assert ase_label.upstream_files(None) == []


def test_label_refuses_an_unknown_method_and_missing_frames(tmp_path):
    with pytest.raises(ValueError, match="choose one of emt, xtb, cp2k"):
        ase_label.label(frames="x.npz", calculator="vasp", context={"task_dir": str(tmp_path)})
    with pytest.raises(RuntimeError, match=r"label needs frames: args\.frames"):
        ase_label.label(context={"task_dir": str(tmp_path)})


# ---- the DP-GEN loop's history ---------------------------------------------------------------
def test_select_continues_the_history_its_previous_result_fed_back():
    assert select_frames.history_so_far(None) == []
    assert select_frames.history_so_far({"label": [{"labelled": 2}]}) == []
    feedback = {"select": [{"history": [{"iteration": 1}]}],
                "label": [{"labelled": 3, "reference_seconds": 1.0},
                          {"labelled": 1, "reference_seconds": 0.5}]}
    assert select_frames.history_so_far(feedback) == [
        {"iteration": 1, "labelled": 4, "label_seconds": 1.5}]
