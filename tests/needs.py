"""Tests that need a real component (Slurm, MPI, SYCL, torch, a browser) skip when it is
missing, except with CI=true, where they fail: CI must run them for real."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require(problem: str | None) -> None:
    """Skip the test for `problem`, or fail it when CI=true; nothing when `problem` is None."""
    if problem is None:
        return
    if in_ci():
        pytest.fail(f"{problem} (CI=true: this test must run, not skip)", pytrace=False)
    pytest.skip(problem)
