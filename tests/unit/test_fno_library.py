"""benchmarks/fno_library.py (our FNO against neuraloperator's): its data, the mapping of
our settings to the library's, the ratios it reports, its row in `make bench`'s table,
and `train_fno` training a model it is handed (what the benchmark trains the library's
FNO with). Training of both models stays in the benchmark."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from orchestrator.library import fields
from orchestrator.library.solvers import darcy

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    """A benchmark script as a module, without putting benchmarks/ on sys.path."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fl = _load("fno_library")
summary = _load("summary")


@pytest.mark.parametrize("kind", ["lognormal", "threshold"])
def test_dataset_is_the_workflows_fields_and_their_exact_solutions(kind):
    d = fl.dataset(kind, n_train=3, n_test=2, grid=8)
    assert {k: v.shape for k, v in d.items()} == {
        "x_train": (3, 8, 8), "y_train": (3, 8, 8), "x_test": (2, 8, 8), "y_test": (2, 8, 8)}
    assert all(v.dtype == np.float32 for v in d.values())
    raw = fields.sample_fields(kind, 2, 8, 0.1, 10.0, 0, fields.STREAMS["test"])
    np.testing.assert_allclose(d["x_test"], np.log(raw), rtol=1e-6)  # features: log k
    for field, u in zip(raw, d["y_test"], strict=True):
        k, f = darcy.problem(field, kind)
        assert darcy.relative_residual(u.astype(np.float64), k, f) < 1e-5
    # held-out fields are not training fields
    assert not np.any(np.all(np.isclose(d["x_train"][:, None], d["x_test"][None]), axis=(2, 3)))
    if kind == "threshold":
        assert set(np.unique(np.exp(d["x_train"]).round(3))) == {1.0, 10.0}


@pytest.mark.parametrize("modes", [4, 8, 12])
def test_library_settings_keep_our_frequencies_and_padding(modes):
    kw = fl.library_kwargs("neuralop_matched", modes=modes, width=16, layers=4, padding=4,
                           grid=32)
    rows, cols = kw["n_modes"]
    # neuralop keeps n_modes[0] rows around frequency 0 (-n/2 .. n/2 - 1) and
    # n_modes[-1] // 2 + 1 columns of the real FFT: ours keeps -modes..modes-1, 0..modes-1
    assert (rows, cols // 2 + 1) == (2 * modes, modes)
    assert kw["domain_padding"] * 32 * 2 == 4  # p/2 each side: a shift of our one-sided p
    assert (kw["hidden_channels"], kw["n_layers"], kw["use_channel_mlp"]) == (16, 4, False)
    assert kw["projection_channel_ratio"] == 4 and kw["lifting_channel_ratio"] == 0
    assert "use_channel_mlp" not in fl.library_kwargs("neuralop", modes, 16, 4, 4, 32)


def test_ratios_are_ours_over_the_library_per_seed():
    def run(model, seed, err, epoch):
        return {"model": model, "kind": "lognormal", "seed": seed, "error_mean": err,
                "seconds_per_epoch": epoch, "ms_batched": 1.0, "ms_single": 2.0,
                "error_ci95": 0.01, "parameters": 100}
    runs = [run("ours", 0, 0.02, 1.0), run("neuralop", 0, 0.04, 2.0),
            run("ours", 1, 0.03, 1.0), run("neuralop", 1, 0.02, 4.0),
            run("ours", 2, 0.05, 1.0)]  # seed 2 has no partner: left out
    r = fl.ratios(runs, "lognormal", "neuralop")
    assert r["seeds"] == [0, 1]
    assert r["error_mean"] == {"per_seed": [0.5, 1.5], "median": 1.0}
    assert r["seconds_per_epoch"]["per_seed"] == [0.5, 0.25]
    assert r["parameters"]["median"] == 1.0
    assert fl.ratios(runs, "threshold", "neuralop")["seeds"] == []
    mean, half = fl.mean_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    assert mean == 2.5 and half == pytest.approx(1.96 * np.std([1, 2, 3, 4], ddof=1) / 2)
    md = fl.table(runs, ["lognormal"], ["ours", "neuralop"])
    assert "| lognormal | ours / neuralop | 0.50, 1.50 | 0.50, 0.25 |" in md
    assert fl.pairs(["neuralop", "ours", "neuralop_matched", "ours_libinit"]) == [
        ("ours", "neuralop"), ("ours", "neuralop_matched"), ("ours_libinit", "neuralop"),
        ("ours_libinit", "neuralop_matched")]


def test_bench_summary_rows():
    runs = [{"model": m, "kind": "threshold", "seed": 0, "error_mean": e}
            for m, e in (("ours", 0.04), ("neuralop", 0.05))]
    q = {"seeds": [0], **{k: {"per_seed": [v], "median": v} for k, v in (
        ("error_mean", 0.8), ("seconds_per_epoch", 0.7), ("ms_batched", 0.6),
        ("ms_single", 0.3))}}
    record = {"settings": {"grid": 32}, "runs": runs,
              "ratios": {"threshold": {"ours/neuralop": q}}}
    rows = summary.rows_fno_library(record)
    assert rows[0][:2] == ("FNO s=32 threshold: ours / neuralop test error, per seed",
                           "0.80x (4.00/5.00%)")
    assert rows[1][1] == "0.70x, 0.60x, 0.30x"
    assert "fno_library" in summary.ROWS and "fno_library" in summary.BENCHMARKS


def test_train_fno_trains_the_model_it_is_handed(torch):
    from orchestrator.library.surrogates import train as tr

    class Tiny(torch.nn.Module):
        """No `config`, and a non-tensor entry in its state_dict (as neuralop's models)."""

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            return self.conv(x)

        def state_dict(self, *args, **kwargs):
            return {**super().state_dict(*args, **kwargs), "_metadata": {"name": "Tiny"}}

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 8, 8)).astype(np.float32)
    y = (2 * x + 1).astype(np.float32)
    model = Tiny()
    before = model.conv.weight.detach().clone()
    res = tr.train_fno(x, y, tr.TrainConfig(epochs=3, batch_size=4, learning_rate=1e-2),
                       device=torch.device("cpu"), model=model)
    assert not torch.equal(before, model.conv.weight.detach())  # trained in place
    assert res.state["config"] == {} and res.state["state_dict"]["_metadata"]["name"] == "Tiny"
    assert res.parameters == 10 and len(res.history) == 3
    assert res.history[-1] < res.history[0]


def test_ours_with_the_librarys_initialisation(torch):
    cfg = {"modes": 4, "width": 16, "layers": 2, "padding": 2, "grid": 16}
    torch.manual_seed(0)
    paper = fl.build("ours", cfg).spectral[0].w_pos.detach()
    torch.manual_seed(0)
    lib = fl.build("ours_libinit", cfg).spectral[0].w_pos.detach()
    assert paper.real.min() >= 0 and paper.real.max() < 1 / 16**2  # the FNO code's scale
    # neuralop: weight.normal_(0, sqrt(2 / (in + out))): each part std / sqrt(2), mean 0
    assert float(lib.real.std()) == pytest.approx(0.25 / 2**0.5, rel=0.1)
    assert float(lib.imag.std()) == pytest.approx(0.25 / 2**0.5, rel=0.1)
    assert abs(float(lib.real.mean())) < 0.02


def test_init_option_is_recorded_checked_and_round_trips(torch, tmp_path):
    from orchestrator.library.surrogates import train as tr
    from orchestrator.library.surrogates.fno import build_fno

    with pytest.raises(ValueError, match="unknown init 'xavier'"):
        build_fno(modes=2, width=4, layers=1, init="xavier")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 8, 8))
    res = tr.train_fno(x, x**2, tr.TrainConfig(epochs=1, batch_size=4, width=4, modes=2,
                                               layers=1, padding=1, init="normal"),
                       device=torch.device("cpu"))
    tr.save(res.state, tmp_path / "m.pt")
    net = tr.load(tmp_path / "m.pt", device=torch.device("cpu"))
    assert net.model.config["init"] == "normal"
    w = net.model.spectral[0].w_pos.detach()
    assert float(w.real.min()) < 0  # "paper" draws only non-negative parts
