"""orchestrator: heterogeneous HPC workflows for AI-for-Science.

Layers (see docs/architecture.md): spec -> plan -> backends. Importing this
package must stay cheap: no Parsl, torch, dpctl or mpi4py at import time.
"""

__version__ = "0.1.0"
