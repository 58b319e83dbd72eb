"""Neural surrogates for the library: a compact Fourier Neural Operator (`fno`), its
training and inference on NumPy fields (`train`), and ensemble uncertainty with the
trust decision of the surrogate-with-fallback pattern (`uncertainty`).

Importing this package imports NumPy only; torch is imported by the functions that
need it (see `fno.require_torch`).
"""
