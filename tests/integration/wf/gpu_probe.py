import os
import time


def probe(i):
    time.sleep(0.3)
    return {"i": i, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "slurm_job": os.environ.get("SLURM_JOB_ID")}
