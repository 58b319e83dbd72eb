"""Issue 17: the baselines' accuracy stopping rule, the conformal factor and the
disjoint calibration/test/training splits (cheap: NumPy/SciPy only)."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.library import fields
from orchestrator.library.solvers import accuracy as acc
from orchestrator.library.surrogates import uncertainty as unc


def test_stop_rule_stops_iterative_solvers_within_the_discretisation_error():
    raw = fields.sample_fields("lognormal", 2, 12, 0.2, 10.0, 0, fields.STREAMS["calibration"])
    ref = acc.reference(raw, "lognormal")
    assert (ref.discretisation > 0).all()
    rule = acc.stop_rule(raw, "lognormal", ref)
    assert rule.tolerance["direct"] is None
    for method in ("cg", "amg"):
        t = rule.tolerance[method]
        assert t in acc.LADDER and t > acc.LADDER[-1]  # looser than a 1e-8 solve
        for x, e, d in zip(raw, ref.exact, ref.discretisation, strict=True):
            assert acc.relative_l2(acc.solve_at(x, "lognormal", rule, method).u, e) <= d


def test_refine_restrict_roundtrip():
    k = np.arange(1.0, 10.0).reshape(3, 3)
    for kind in ("threshold", "lognormal"):
        assert acc.restrict(acc.refine(k, kind)) == pytest.approx(k)


def test_conformal_factor_and_intervals():
    rng = np.random.default_rng(0)
    spread = rng.uniform(0.01, 0.02, 1000)
    err = spread * rng.uniform(0, 3, 1000)
    c = unc.conformal_factor(spread[:500], err[:500], 0.9)
    assert 0.85 < float((err[500:] <= c * spread[500:]).mean()) < 0.95
    assert unc.conformal_factor(spread[:5], err[:5], 0.99) == float("inf")
    lo, hi = unc.binomial_interval(0, 256)
    assert lo == 0 and 0.01 < hi < 0.015
    lo, hi = unc.mean_interval(err)
    assert lo < err.mean() < hi


def test_calibration_test_and_training_splits_are_disjoint():
    def draw(stream: str, n: int) -> set[bytes]:
        x = fields.sample_fields("lognormal", n, 8, 0.2, 10.0, 0, fields.STREAMS[stream])
        return {row.tobytes() for row in x}

    train, cal, test = draw("train", 40), draw("calibration", 40), draw("test", 40)
    assert len(train) == len(cal) == len(test) == 40
    assert not (train & cal) and not (train & test) and not (cal & test)
