"""Site configs: where a workflow can run (local, Slurm, PBS Pro) and its device pools."""
