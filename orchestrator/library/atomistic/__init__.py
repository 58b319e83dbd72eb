"""Atomistic stage helpers shared by the step library (workflows/templates/deepmd-train,
lammps-md, ase-label) and the DP-GEN workflow (workflows/dpgen): frame files and DeePMD-kit
data (`frames`), running a science code as a subprocess (`codes`), ASE calculators by name
(`calculators`), DeePMD-kit training (`deepmd`), bulk structures (`structures`) and DP-GEN's
trust levels on model deviation (`selection`).

They run in a site environment's interpreter (the `deepmd`, `lammps`, `ase` or `dpgen`
environment: NumPy at top level, ASE and DeePMD-kit imported inside functions), which sees
this package but not orchestrator's dependencies; so they import nothing of orchestrator
but `library.stage_io` and each other.
"""
