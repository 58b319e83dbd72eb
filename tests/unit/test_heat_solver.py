"""The Jacobi heat solver (orchestrator.library.solvers.heat) and the heat-mpi stages.

The serial solver is checked against the closed-form solution sin(πx) sin(πy) (second
order in h) and for its tolerance and iteration-cap behaviour. Tests marked `mpi` run
the distributed solver under `mpiexec -n 1..4` (even and uneven slabs, a rank with no
rows) and require the same iteration count and the same numbers as the serial solver;
they skip without mpiexec/mpi4py, and fail instead with CI=true.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from needs import require as _require

from orchestrator.library import mpi
from orchestrator.library.solvers import heat
from orchestrator.library.steps import mpi_stencil

REPO = Path(__file__).resolve().parents[2]
HEAT_MPI = REPO / "workflows" / "heat-mpi" / "heat_mpi.py"


# ---------------------------------------------------------------- serial solver


def test_second_order_against_the_exact_solution():
    """Halving h divides the error by ~4; the sine mode is an eigenvector of the 5-point
    operator, so the error is also known exactly: |2π²/λ_h - 1| max(sin sin)."""
    errors = {n: heat.discretisation_error(n) for n in (15, 31)}
    h = {n: 1.0 / (n + 1) for n in errors}
    ratio = errors[15] / errors[31]
    assert ratio == pytest.approx((h[15] / h[31]) ** 2, rel=0.03)
    for n, err in errors.items():
        lam = 8.0 / h[n] ** 2 * np.sin(np.pi * h[n] / 2) ** 2
        peak = np.max(heat.exact_sine(n))
        assert err == pytest.approx(abs(2 * np.pi**2 / lam - 1) * peak, rel=1e-6)


def test_converged_solve_meets_its_tolerance():
    result = heat.solve_serial(20, tol=1e-9)
    assert result.converged
    assert result.residual <= 1e-9
    assert result.u.shape == (20, 20)
    assert result.u.dtype == np.float64


def test_tighter_tolerance_takes_more_iterations_and_gets_closer():
    reference = heat.solve_serial(20, tol=1e-14).u
    loose, tight = heat.solve_serial(20, tol=1e-5), heat.solve_serial(20, tol=1e-9)
    assert loose.iterations < tight.iterations
    loose_err = np.max(np.abs(loose.u - reference))
    tight_err = np.max(np.abs(tight.u - reference))
    assert tight_err < loose_err
    # error <= update / (1 - rho), rho = cos(pi h): the update norm bounds the distance
    rho = np.cos(np.pi / 21)
    assert tight_err <= 1e-9 / (1 - rho) * 1.01


def test_iteration_cap_reports_not_converged():
    result = heat.solve_serial(32, tol=0.0, max_iterations=50)
    assert not result.converged
    assert result.iterations == 50
    assert result.residual > 0


def test_check_every_only_tests_on_its_schedule():
    every = heat.solve_serial(16, tol=1e-8)
    sparse = heat.solve_serial(16, tol=1e-8, check_every=10)
    assert sparse.iterations % 10 == 0
    assert every.iterations <= sparse.iterations < every.iterations + 10


def test_source_as_array_callable_or_number_agree():
    n = 12
    x = heat.grid_coordinates(n, 0, n)
    array = heat.sine_source(x[:, None], x[None, :])
    by_array = heat.solve_serial(n, array, tol=1e-10)
    by_default = heat.solve_serial(n, None, tol=1e-10)
    np.testing.assert_array_equal(by_array.u, by_default.u)
    constant = heat.solve_serial(n, 1.0, tol=1e-10)
    assert np.allclose(constant.u, constant.u.T)  # a symmetric problem, symmetric answer
    assert constant.u.min() > 0


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"n": 2.5}, {"tol": -1.0}, {"tol": float("nan")},
                                    {"max_iterations": 0}, {"check_every": 0}])
def test_bad_arguments_are_rejected(kwargs):
    args = {"n": 8, "tol": 1e-6, "max_iterations": 10, "check_every": 1, **kwargs}
    with pytest.raises(ValueError):
        heat.solve_serial(args["n"], None, args["tol"], args["max_iterations"],
                          args["check_every"])


def test_source_array_of_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        heat.solve_serial(8, np.ones((7, 8)))


@pytest.mark.parametrize(("n", "size"), [(10, 1), (10, 3), (10, 4), (3, 5), (0, 2)])
def test_split_rows_covers_every_row_once(n, size):
    counts, starts = mpi.split_rows(n, size)
    assert sum(counts) == n
    assert max(counts) - min(counts) <= 1
    assert starts == [sum(counts[:r]) for r in range(size)]


def test_importing_the_solver_does_not_import_mpi4py():
    code = ("import sys, orchestrator.library.solvers.heat, orchestrator.library.mpi\n"
            "assert 'mpi4py' not in sys.modules, 'mpi4py imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------- heat-mpi stages


@pytest.fixture(scope="module")
def stages():
    spec = importlib.util.spec_from_file_location("heat_mpi_stages", HEAT_MPI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_serial_stage_writes_its_solution(tmp_path):
    result = mpi_stencil.solve(grid=9, tolerance=1e-8, max_iterations=10_000,
                               context={"task_dir": str(tmp_path)})
    saved = np.load(result["file"])
    assert Path(result["file"]) == tmp_path / "solution.npy"
    assert saved.shape == (9, 9)
    assert result["ranks"] == 1 and result["converged"]
    json.dumps(result)  # the orchestrator journals it


def test_compare_stage_agrees_and_disagrees(stages, tmp_path):
    def record(name, values, iterations=5):
        path = tmp_path / f"{name}.npy"
        np.save(path, values)
        return {"file": str(path), "iterations": iterations, "checksum": name,
                "seconds": 1.0, "ranks": 4}

    a = np.linspace(0, 1, 16).reshape(4, 4)
    same = {"solve_serial": [record("a", a)], "solve_mpi": [record("b", a + 1e-12)]}
    summary = stages.compare(agreement=1e-10, results=same)
    assert summary["agree"] and summary["max_abs_diff"] <= 1e-10
    assert summary["iterations"] == 5
    off = {"solve_serial": [record("a", a)], "solve_mpi": [record("c", a + 1e-6)]}
    with pytest.raises(RuntimeError, match="disagree"):
        stages.compare(agreement=1e-10, results=off)
    late = {"solve_serial": [record("a", a)], "solve_mpi": [record("b", a, iterations=6)]}
    with pytest.raises(RuntimeError, match="disagree"):
        stages.compare(agreement=1e-10, results=late)


# ---------------------------------------------------------------- distributed (MPI)




@functools.cache
def _mpiexec() -> tuple[list[str], dict[str, str]] | str:
    """The mpiexec command prefix and environment, or why MPI is unavailable."""
    beside = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(beside) if beside.exists() else shutil.which("mpiexec")
    if mpiexec is None:
        return "no mpiexec (run scripts/install-mpi.sh)"
    probe = subprocess.run([sys.executable, "-c", "import mpi4py.MPI"], capture_output=True,
                           text=True, timeout=60)
    if probe.returncode != 0:
        return f"mpi4py does not import: {(probe.stderr.strip().splitlines() or ['?'])[-1]}"
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
    env = dict(os.environ)
    if "Open MPI" in version.stdout + version.stderr:  # refuses root, and more ranks than cores
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        return [mpiexec, "--oversubscribe"], env
    return [mpiexec], env


DISTRIBUTED = textwrap.dedent("""
    import json, sys
    import numpy as np
    from orchestrator.library.solvers import heat
    n, tol, cap, out = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    r = heat.solve_distributed(n, tol=tol, max_iterations=cap)
    from mpi4py import MPI
    if MPI.COMM_WORLD.Get_rank() == 0:
        np.save(out + ".npy", r.u)
        json.dump({"iterations": r.iterations, "residual": r.residual,
                   "converged": r.converged, "size": MPI.COMM_WORLD.Get_size()},
                  open(out + ".json", "w"))
    else:
        assert r.u is None
""")


@pytest.mark.mpi
@pytest.mark.parametrize(("ranks", "n", "tol", "cap"), [
    (1, 37, 1e-9, 100_000),   # one slab: the distributed code path alone
    (2, 37, 1e-9, 100_000),   # uneven: 19 + 18 rows
    (3, 37, 1e-9, 100_000),   # uneven: 13 + 12 + 12
    (4, 36, 1e-9, 100_000),   # even: 9 rows each
    (4, 37, 1e-9, 100_000),   # uneven: 10 + 9 + 9 + 9
    (4, 3, 1e-9, 100_000),    # more ranks than rows: rank 3 holds none
    (3, 24, 0.0, 200),        # stopped by the cap, not converged
])
def test_distributed_equals_serial(tmp_path, ranks, n, tol, cap):
    launch = _mpiexec()
    _require(launch if isinstance(launch, str) else None)
    prefix, env = launch
    script = tmp_path / "solve.py"
    script.write_text(DISTRIBUTED)
    out = tmp_path / "result"
    proc = subprocess.run([*prefix, "-n", str(ranks), sys.executable, str(script), str(n),
                           str(tol), str(cap), str(out)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = json.loads(Path(f"{out}.json").read_text())
    distributed = np.load(f"{out}.npy")
    serial = heat.solve_serial(n, tol=tol, max_iterations=cap)
    assert meta["size"] == ranks
    assert meta["iterations"] == serial.iterations
    assert meta["converged"] == serial.converged
    assert meta["residual"] == pytest.approx(serial.residual, rel=1e-12)
    assert distributed.shape == (n, n)
    assert np.max(np.abs(distributed - serial.u)) <= 1e-12


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_kernel_layer_backends_match_the_inline_solver(backend):
    inline = heat.solve_serial(20, None, 1e-9, 20_000, check_every=5)
    kernel = heat.solve_serial(20, None, 1e-9, 20_000, check_every=5, backend=backend)
    assert kernel.backend.startswith(backend)
    assert kernel.iterations == inline.iterations
    assert np.array_equal(kernel.u, inline.u)
