"""Stage code of the active-learning workflow (see README.md next to workflow.yaml).

- `system`: the Lennard-Jones reference (the "expensive" labeller), lattices, frame files;
- `potential`: the learned pair potential (a small PyTorch MLP of r, tabulated for MD);
- `md`: Langevin molecular dynamics whose forces come from the kernel layer;
- `data`, `train`, `explore`, `select`, `label`, `report`: one module per stage.

Results carry what the next iteration needs (the data files labelled so far, the
per-iteration history), so the loop needs nothing but its YAML declaration.
"""
