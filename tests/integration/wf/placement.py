"""A task that reports what it was given at run time: its CPUs, device variables, when."""

import os
import time

VARS = ("CUDA_VISIBLE_DEVICES", "ZE_AFFINITY_MASK", "ONEAPI_DEVICE_SELECTOR",
        "ROCR_VISIBLE_DEVICES", "OMP_NUM_THREADS", "SLURM_JOB_ID", "SLURMD_NODENAME")


def probe(seconds=0.4, context=None):
    start = time.time()
    cpus = sorted(os.sched_getaffinity(0))
    deadline = time.time() + seconds
    while time.time() < deadline:  # busy: a task that really uses its core
        pass
    return {"task": context["task_id"] if context else None, "pid": os.getpid(),
            "start": start, "end": time.time(), "cpus": cpus,
            "env": {k: os.environ[k] for k in VARS if k in os.environ}}
