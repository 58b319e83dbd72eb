"""Stages that report which device they computed on (through the kernel layer)."""

import os

import numpy as np


def stencil(device_class, context=None):
    from orchestrator.library.kernels import jacobi_numpy, jacobi_sweeps

    rng = np.random.default_rng(0)
    u, f = rng.random((40, 40)), rng.random((40, 40))
    res = jacobi_sweeps(u, f, 0.1, sweeps=20)
    ref = jacobi_numpy(u, f, 0.1, sweeps=20)
    return {
        "class": device_class,
        "backend": str(res.backend),
        "max_err": float(np.abs(res.u - ref).max()),
        "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "selector": os.environ.get("ONEAPI_DEVICE_SELECTOR"),
    }
