"""Stage code of the ns-forecast workflow (see README.md next to workflow.yaml).

- `stages`: sample, simulate, dataset, resolve (the solver half, NumPy only);
- `model`: the FNO that advances the vorticity by one model step, its training and rollout;
- `assess`: assess (inside the loop) and evaluate (after it): errors per lead time,
  spectrum drift, timings and the speedup at equal accuracy;
- `figures`: the SVG figures evaluate adds to the report.

Each stage is a plain function called with its `args`, the `results` of the stages it
needs, `feedback` inside the loop and `context` (docs/run.md); torch is imported inside.
"""
