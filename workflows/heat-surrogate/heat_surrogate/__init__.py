"""Stage code of the heat-surrogate workflow (see README.md next to workflow.yaml).

- `solver`: the reference solver (Darcy / Poisson, CG or Jacobi, kernel layer);
- `stages`: sample, simulate, dataset, train (the data and model half);
- `assess`: evaluate, couple and the summary table (the judging half).

Each stage is a plain function called by the orchestrator with its `args`, `results`
of the stages it needs and `context` (docs/run.md); torch is imported inside them.
"""
