"""Stage code of workflows/dpgen: DP-GEN's concurrent-learning loop for fcc copper with
the real codes. Training, exploration and labelling are the step library's templates
(workflows/templates/deepmd-train, lammps-md, ase-label); here are the stages only this
workflow has (init and test data, selection by trust levels, the comparison, the report).
Runs in the site's `dpgen` environment (scripts/install-dpgen.sh)."""
