"""Site configs: where a workflow can run (local or Slurm) and its device pools."""
