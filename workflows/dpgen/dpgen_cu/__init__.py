"""Stage code of workflows/dpgen: DP-GEN's concurrent-learning loop for fcc copper with
the real codes (DeePMD-kit `dp`, LAMMPS `lmp` with `pair_style deepmd`, ASE/tblite
references). Runs in the site's `dpgen` environment (scripts/install-dpgen.sh); the
modules that only sort numbers (select, convergence) import nothing beyond NumPy."""
