"""Classic numerical solvers, usable as stage code (NumPy; MPI only where asked for)."""
