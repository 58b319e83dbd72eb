"""Reusable stage code for AI-for-Science workflows: MPI helpers, classic solvers.

`import orchestrator` imports nothing here, and planning only `sycl_env` (standard library
only: the oneAPI variables a batch script exports); the rest is what stage functions
import on a worker. Modules may import NumPy at top level; MPI
(mpi4py) and accelerator runtimes are imported lazily inside functions, so that
`import orchestrator.library.solvers.heat` works on a machine without MPI.
"""
