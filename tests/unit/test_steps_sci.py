"""The stage code of the surrogate and solver steps (orchestrator.library.steps) and what
it rests on: the real-arithmetic export graph of the FNO against the FNO itself, the
backend choice of surrogate-infer, the sparse methods of the Darcy solver, the input
placeholder. The examples run for real in tests/integration/test_step_library_sci.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from orchestrator import device_kinds
from orchestrator.library import fields
from orchestrator.library.solvers import darcy
from orchestrator.library.steps import inputs, sparse_solve, surrogate_infer


@pytest.fixture
def torch():
    try:
        import torch
    except ImportError:
        from needs import require

        require("torch is not installed (pip install 'orchestrator[torch]')")
    torch.set_num_threads(1)
    return torch


def _saved_member(torch, path, grid, modes, padding, seed=0):
    """A randomly initialised FNO with a normaliser, saved as fno-train saves one."""
    from orchestrator.library.surrogates import train as tr
    from orchestrator.library.surrogates.fno import build_fno

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_fno(modes=modes, width=6, layers=2, padding=padding)
    norm = {"x_mean": 0.4, "x_std": 1.3,
            "y_mean": rng.random((grid, grid)).astype(np.float32),
            "y_std": (1 + rng.random((grid, grid))).astype(np.float32)}
    tr.save({"state_dict": model.state_dict(), "config": model.config, "normaliser": norm},
            path)
    return path


# grid + padding: even (16 + 2), odd (13 + 2), and modes past size/2 (the Nyquist column)
@pytest.mark.parametrize(("grid", "modes", "padding"), [(16, 4, 2), (13, 5, 2), (6, 8, 2)])
def test_export_graph_equals_the_fno(torch, tmp_path, grid, modes, padding):
    from orchestrator.library.surrogates import export as ex
    from orchestrator.library.surrogates import train as tr

    paths = [_saved_member(torch, tmp_path / f"m{i}.pt", grid, modes, padding, seed=i)
             for i in range(2)]
    x = np.random.default_rng(5).standard_normal((3, grid, grid))
    ref = tr.predict([tr.load(p) for p in paths], x)
    with torch.no_grad():
        got = ex.served(paths)(torch.as_tensor(x, dtype=torch.float32)).numpy()
    assert got.shape == ref.shape == (3, 2, grid, grid)
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


def test_export_writes_onnx_with_a_free_batch(torch, tmp_path):
    pytest.importorskip("onnx", reason="the onnx package (the torch extra)")
    import onnx

    path = _saved_member(torch, tmp_path / "m.pt", 8, 3, 1)
    info = surrogate_infer.export(str(path), context={"task_dir": str(tmp_path)})
    assert info["members"] == 1 and info["grid"] == 8 and info["models"] == [str(path)]
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert graph.input[0].name == "x" and dims == ["batch", 8, 8]


def test_members_on_different_grids_are_refused(torch, tmp_path):
    from orchestrator.library.surrogates import export as ex

    a = _saved_member(torch, tmp_path / "a.pt", 8, 3, 1)
    b = _saved_member(torch, tmp_path / "b.pt", 10, 3, 1)
    with pytest.raises(ValueError, match="different grids"):
        ex.served([a, b])


@pytest.mark.parametrize(("environ", "device"), [
    ({}, "cpu"),
    ({"CUDA_VISIBLE_DEVICES": ""}, "cpu"),           # a gpu stage fallen back to a cpu pool
    ({"CUDA_VISIBLE_DEVICES": "1"}, "gpu"),
    ({"ROCR_VISIBLE_DEVICES": "0,1"}, "gpu"),
    ({"ZE_AFFINITY_MASK": "0.1"}, "xpu"),
    ({"ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}, "cpu"),  # a selector, no units
])
def test_pinned_class(environ, device):
    assert device_kinds.pinned_class(environ) == device


def test_backend_choice():
    gpu = {"CUDA_VISIBLE_DEVICES": "0"}
    assert surrogate_infer.choose("auto", gpu, torch_here=True) == "torch"
    # a gpu pool whose environment has OpenVINO only (local-slurm's pretend GPUs)
    assert surrogate_infer.choose("auto", gpu, torch_here=False) == "openvino"
    assert surrogate_infer.choose("auto", {"CUDA_VISIBLE_DEVICES": ""}) == "openvino"
    assert surrogate_infer.choose("auto", {}) == "openvino"
    assert surrogate_infer.choose("torch", {}) == "torch"
    assert surrogate_infer.choose("openvino", {"CUDA_VISIBLE_DEVICES": "0"}) == "openvino"
    with pytest.raises(ValueError, match="unknown backend 'onnx'"):
        surrogate_infer.choose("onnx", {})


def test_infer_with_torch_writes_predictions(torch, tmp_path):
    path = _saved_member(torch, tmp_path / "m.pt", 8, 3, 1)
    x = np.random.default_rng(1).standard_normal((5, 8, 8))
    np.savez(tmp_path / "q.npz", inputs=x)
    res = surrogate_infer.infer([str(path)], "unused.onnx", str(tmp_path / "q.npz"),
                                backend="torch", repeats=1,
                                context={"task_dir": str(tmp_path)})
    assert res["backend"] == "torch" and res["queries"] == 5 and res["members"] == 1
    out = np.load(tmp_path / "predictions.npz")
    assert out["members"].shape == (5, 1, 8, 8) and out["mean"].shape == (5, 8, 8)
    assert not out["spread"].any()  # one member


@pytest.mark.parametrize("kind", ["lognormal", "threshold", "source"])
def test_sparse_methods_agree(kind):
    x = fields.sample_field(kind, 24, 0.2, 10.0, 3, 0, 0)
    direct = darcy.solve_linear(x, kind, "direct")
    assert direct.residual < 1e-12
    for method in ("amg", "cg"):
        res = darcy.solve_linear(x, kind, method, 1e-10)
        assert res.converged and res.residual <= 1.01e-10, (method, res.residual)
        assert np.abs(res.u - direct.u).max() <= 1e-8 * np.abs(direct.u).max()
    with pytest.raises(ValueError, match="unknown method 'lu'"):
        darcy.solve_linear(x, kind, "lu")


def test_sparse_solve_stage_writes_and_fails_unconverged(tmp_path):
    x = fields.sample_fields("lognormal", 2, 12, 0.2, 10.0, 0)
    np.savez(tmp_path / "f.npz", fields=x)
    ctx = {"task_dir": str(tmp_path)}
    res = sparse_solve.solve(str(tmp_path / "f.npz"), method="cg", tolerance=1e-9, context=ctx)
    report = json.loads((tmp_path / "residuals.json").read_text())
    assert res["fields"] == report["fields"] == 2 and report["residual_max"] <= 1.01e-9
    assert np.load(tmp_path / "solutions.npz")["solutions"].shape == (2, 12, 12)
    with pytest.raises(RuntimeError, match="2 of 2 fields unconverged"):
        sparse_solve.solve(str(tmp_path / "f.npz"), method="cg", tolerance=1e-12,
                           max_iterations=2, context=ctx)


def test_input_placeholder_names_the_stage():
    with pytest.raises(RuntimeError, match="stage 'dataset' is the step's input"):
        inputs.required(context={"stage": "dataset"})


def test_darcy_producers(tmp_path):
    ctx = {"task_dir": str(tmp_path)}
    inputs.darcy_dataset(n=3, n_val=2, grid=8, context=ctx)
    data = np.load(tmp_path / "dataset.npz")
    assert data["inputs"].shape == data["targets"].shape == (3, 8, 8)
    assert data["inputs_val"].shape == (2, 8, 8)
    k = np.exp(data["inputs"][0])  # features are log k
    assert darcy.relative_residual(data["targets"][0], *darcy.problem(k, "lognormal")) < 1e-10
    inputs.darcy_queries(n=2, grid=8, context=ctx)
    q = np.load(tmp_path / "queries.npz")
    assert np.allclose(q["inputs"], np.log(q["fields"]))
    assert not np.any(np.all(np.isclose(q["fields"][:, None], np.exp(data["inputs"])[None]),
                             axis=(2, 3)))  # the query stream is not the training stream


def test_requires_mapping_serialises_as_written():
    import warnings

    from orchestrator.spec.compose import BUILTIN_TEMPLATES
    from orchestrator.spec.load import load_spec

    spec = load_spec(BUILTIN_TEMPLATES / "surrogate-infer" / "template.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydantic warned that a mapping is not a list
        dumped = spec.workflow.model_dump(mode="json")
    assert dumped["requires"] == {"devices": ["gpu", "cpu"], "environments": ["openvino"]}
