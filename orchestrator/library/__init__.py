"""Reusable stage code for AI-for-Science workflows: MPI helpers, classic solvers.

Nothing here is imported by planning or by `import orchestrator`: the library is what
stage functions import on a worker. Modules may import NumPy at top level; MPI
(mpi4py) and accelerator runtimes are imported lazily inside functions, so that
`import orchestrator.library.solvers.heat` works on a machine without MPI.
"""
