"""Sweeps: product and zip, ranges, space-filling samples with recorded seeds, scale."""

from __future__ import annotations

import json
import math
import textwrap

import pytest
from conftest import plan_of, run_cli, site, spec_text

from orchestrator.errors import PlanError, UserError
from orchestrator.plan.build import build_plan
from orchestrator.plan.expand import expand, range_values, sample_points
from orchestrator.plan.export import iter_json
from orchestrator.spec.load import load_spec
from orchestrator.spec.models import RangeSpec, Sample, Sweep


def swept(sweep: str, name: str = "s", wf: str = "t") -> str:
    body = (f"{name}:\n  python: m:f\n  sweep:\n"
            + textwrap.indent(textwrap.dedent(sweep).strip("\n"), "    ") + "\n")
    return spec_text(body, name=wf)


def points(plan, stage: str = "s") -> list[dict]:
    return [t.point for t in plan.stages[stage].tasks]


# ---------------------------------------------------------------- product and zip


def test_product_order_and_count(spec_file):
    plan = plan_of(spec_file(swept("values:\n  a: [1, 2, 3]\n  b: [x, y]\n  c: [true]")))
    assert points(plan) == [
        {"a": 1, "b": "x", "c": True}, {"a": 1, "b": "y", "c": True},
        {"a": 2, "b": "x", "c": True}, {"a": 2, "b": "y", "c": True},
        {"a": 3, "b": "x", "c": True}, {"a": 3, "b": "y", "c": True},
    ]
    assert [t.id for t in plan.stages["s"].tasks] == [f"s[{i}]" for i in range(6)]
    assert [t.index for t in plan.stages["s"].tasks] == list(range(6))


def test_zip(spec_file):
    plan = plan_of(spec_file(swept(
        "mode: zip\nvalues:\n  a: [1, 2, 3]\n  b: {start: 10, stop: 40, step: 10}")))
    assert points(plan) == [{"a": 1, "b": 10}, {"a": 2, "b": 20}, {"a": 3, "b": 30}]


def test_zip_of_unequal_lengths_is_a_plan_error(spec_file):
    spec = load_spec(spec_file(swept("mode: zip\nvalues:\n  a: [1, 2, 3]\n  b: [1, 2]")))
    with pytest.raises(PlanError) as info:
        build_plan(spec, site("laptop"))
    (d,) = info.value.diagnostics
    assert d.message == "zip needs lists of equal length: a has 3, b has 2"
    assert d.loc == spec.locate("stages", "s", "sweep", "mode")


def test_unswept_stage_has_one_task(spec_file):
    plan = plan_of(spec_file(spec_text("a:\n  shell: echo\n")))
    (task,) = plan.stages["a"].tasks
    assert task.id == "a" and task.point is None and task.index is None


# ---------------------------------------------------------------- ranges


@pytest.mark.parametrize(("spec", "values"), [
    ({"start": 0, "stop": 5, "step": 1}, [0, 1, 2, 3, 4]),
    ({"start": 0, "stop": 10, "step": 3}, [0, 3, 6, 9]),
    ({"start": 10, "stop": 0, "step": -3}, [10, 7, 4, 1]),
    ({"start": -2, "stop": 2, "step": 1}, [-2, -1, 0, 1]),
    ({"start": 0.0, "stop": 1.0, "step": 0.25}, [0.0, 0.25, 0.5, 0.75]),
    ({"start": 0, "stop": 1, "step": 0.5}, [0.0, 0.5]),
    ({"start": 0, "stop": 10, "num": 6}, [0, 2, 4, 6, 8, 10]),
    ({"start": 0, "stop": 1, "num": 5}, [0.0, 0.25, 0.5, 0.75, 1.0]),
    ({"start": 0, "stop": 10, "num": 4}, [0.0, 10 / 3, 20 / 3, 10.0]),
    ({"start": 1.0, "stop": 2.0, "num": 3}, [1.0, 1.5, 2.0]),
    ({"start": 5, "stop": 5, "num": 1}, [5]),
    ({"start": 3, "stop": 0, "num": 4}, [3, 2, 1, 0]),
])
def test_range_values(spec, values):
    got = range_values(RangeSpec(**spec))
    assert got == pytest.approx(values)
    # one type per range: ints stay ints only when every value is an int
    assert {type(v) for v in got} == {type(v) for v in values}


def test_float_step_count_is_robust_to_rounding():
    got = range_values(RangeSpec(start=0, stop=1, step=0.1))
    assert len(got) == 10
    assert got[-1] == pytest.approx(0.9)


def test_range_stop_from_a_param(spec_file):
    text = spec_text(
        "s:\n  python: m:f\n  sweep:\n    values:\n      i: {start: 0, stop: \"${params.n}\", step: 1}\n",
        params="n: 7\n")
    assert [p["i"] for p in points(plan_of(spec_file(text)))] == list(range(7))


def test_too_many_points_is_a_plan_error(spec_file):
    spec = load_spec(spec_file(swept("values:\n  i: {start: 0, stop: 100000000, step: 1}")))
    with pytest.raises(PlanError, match="range has 100000000 values; the limit is 10,000,000"):
        build_plan(spec, site("laptop"))
    spec = load_spec(spec_file(swept(
        "values:\n  i: {start: 0, stop: 5000, step: 1}\n  j: {start: 0, stop: 5000, step: 1}")))
    with pytest.raises(PlanError, match="the product has 25,000,000 points"):
        build_plan(spec, site("laptop"))


def test_num_ranges_are_bounded(spec_file, monkeypatch):
    import orchestrator.plan.expand as expand_module

    def guarded_range(*args):
        r = range(*args)
        if len(r) > 20_000_000:
            raise RuntimeError(f"would materialise {len(r):,} values")
        return r

    monkeypatch.setattr(expand_module, "range", guarded_range, raising=False)
    path = spec_file(swept("values:\n  x: {start: 0, stop: 1, num: 1000000000000}"))
    with pytest.raises(UserError):
        build_plan(load_spec(path), site("laptop"))


@pytest.mark.parametrize("bounds", [
    "{start: 0, stop: .inf, step: 1}",
    "{start: -1e308, stop: 1e308, step: 1.0}",
    "{start: .nan, stop: 1, step: 1}",
    "{start: 0, stop: 1" + "0" * 400 + ", step: 1}",
])
def test_non_finite_ranges_are_user_errors(spec_file, bounds):
    path = spec_file(swept(f"values:\n  x: {bounds}"))
    with pytest.raises(UserError):
        build_plan(load_spec(path), site("laptop"))


# ---------------------------------------------------------------- samples


def sample(method: str, n: int = 16, seed: int | None = 7, **space) -> Sample:
    return Sample(method=method, n=n, seed=seed,
                  space=space or {"x": [0, 1], "y": {"low": 1e-4, "high": 1e-1, "log": True}})


@pytest.mark.parametrize("method", ["lhs", "sobol", "random"])
def test_samples_are_in_bounds_and_reproducible(method):
    s = sample(method, n=64, x=[-2, 3], y={"low": 1e-4, "high": 1e-1, "log": True})
    pts = sample_points(s, 7)
    assert len(pts) == 64
    assert all(-2 <= p["x"] <= 3 for p in pts)
    assert all(1e-4 <= p["y"] <= 1e-1 for p in pts)
    assert all(isinstance(p["x"], float) for p in pts)
    assert sample_points(s, 7) == pts
    assert sample_points(s, 8) != pts
    # log bounds spread over decades: some points in each of the three decades
    decades = {math.floor(math.log10(p["y"])) for p in pts}
    assert decades == {-4, -3, -2}


def test_lhs_has_one_point_per_stratum():
    n = 20
    pts = sample_points(sample("lhs", n=n, x=[0, 10], y={"low": 1, "high": 1e4, "log": True}), 3)
    assert sorted(int(p["x"] / 10 * n) for p in pts) == list(range(n))
    assert sorted(int(math.log10(p["y"]) / 4 * n) for p in pts) == list(range(n))


def test_values_times_samples(spec_file):
    plan = plan_of(spec_file(swept(
        "values: {a: [1, 2, 3]}\nsample: {method: random, n: 5, seed: 1, space: {x: [0, 1]}}")))
    pts = points(plan)
    assert len(pts) == 15
    assert [p["a"] for p in pts] == [1] * 5 + [2] * 5 + [3] * 5
    assert [p["x"] for p in pts[:5]] == [p["x"] for p in pts[5:10]]


def test_given_seed_is_recorded(spec_file):
    plan = plan_of(spec_file(swept("sample: {method: sobol, n: 8, seed: 42, space: {x: [0, 1]}}")))
    stage = plan.stages["s"]
    assert stage.seed == 42 and stage.sampler == "sobol"
    assert points(plan) == sample_points(Sample(method="sobol", n=8, seed=42,
                                                space={"x": [0, 1]}), 42)


def test_seed_zero_is_a_seed(spec_file):
    plan = plan_of(spec_file(swept("sample: {n: 4, seed: 0, space: {x: [0, 1]}}")))
    assert plan.stages["s"].seed == 0


def test_derived_seed_is_recorded_and_stable_across_runs(spec_file):
    path = spec_file(swept("sample: {method: lhs, n: 6, space: {x: [0, 1]}}", wf="seeded"))
    runs = [run_cli("plan", path, "--site", "laptop", "--format", "json", cwd=".")
            for _ in range(2)]
    docs = [r.json() for r in runs]
    seeds = [d["stages"][0]["seed"] for d in docs]
    assert isinstance(seeds[0], int) and seeds[0] == seeds[1]
    assert docs[0]["stages"][0]["sampler"] == "lhs"
    assert [t["sweep"] for t in docs[0]["tasks"]] == [t["sweep"] for t in docs[1]["tasks"]]
    # the same seed in-process, and the plan is what that seed gives
    plan = plan_of(path)
    assert plan.stages["s"].seed == seeds[0]
    assert points(plan) == [t["sweep"] for t in docs[0]["tasks"]]


def test_derived_seed_depends_on_workflow_and_stage(spec_file):
    one = plan_of(spec_file(swept("sample: {n: 4, space: {x: [0, 1]}}", name="a", wf="w1"), "a.yaml"))
    two = plan_of(spec_file(swept("sample: {n: 4, space: {x: [0, 1]}}", name="b", wf="w1"), "b.yaml"))
    three = plan_of(spec_file(swept("sample: {n: 4, space: {x: [0, 1]}}", name="a", wf="w2"), "c.yaml"))
    seeds = {one.stages["a"].seed, two.stages["b"].seed, three.stages["a"].seed}
    assert len(seeds) == 3


def test_expand_none_and_values_only():
    assert expand(None, 0) is None
    assert expand(Sweep(values={"a": [1, 2]}), 0) == [{"a": 1}, {"a": 2}]


# ---------------------------------------------------------------- scale


def test_100k_point_sweep_plans_and_streams(spec_file):
    path = spec_file(spec_text("""
work:
  shell: echo ${sweep.i}
  sweep:
    values:
      i: {start: 0, stop: 100000, step: 1}
gather:
  shell: echo done
  needs: [work]
"""))
    plan = plan_of(path)
    assert plan.task_count == 100_001
    assert len(plan.stages["work"].tasks) == 100_000
    assert plan.stages["work"].tasks[-1].point == {"i": 99_999}
    chunks = iter_json(plan)
    assert iter(chunks) is chunks  # a generator, not a prebuilt string or list
    count = 0
    largest = 0
    parts = []
    for chunk in chunks:
        count += 1
        if count > 2:  # after the head, one chunk per task: no chunk holds many tasks
            largest = max(largest, chunk.count('"id": '))
        parts.append(chunk)
    assert count >= 100_001
    assert largest == 1
    doc = json.loads("".join(parts))
    assert len(doc["tasks"]) == 100_001
    assert doc["summary"]["tasks"] == 100_001
    gather = doc["tasks"][-1]
    assert gather["id"] == "gather"
    assert gather["needs"] == [f"work[{i}]" for i in range(100_000)]
