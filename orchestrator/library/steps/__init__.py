"""Stage functions of the shipped step templates (workflows/templates/NAME/template.yaml):
thin glue between the files that travel between stages and the library's maths
(`solvers`, `surrogates`, `fields`).

They live in the package, not beside the templates, so that a workflow anywhere that
includes a step (workflows/heat-mpi, workflows/heat-surrogate, a lab's own) imports them
as it imports the rest of the library. Each module imports only the standard library and
NumPy at import time (torch, OpenVINO, PyAMG and mpi4py inside the functions that need
them), so a stage can run in a site environment that has only what that stage uses.
"""
