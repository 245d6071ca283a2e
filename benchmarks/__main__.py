"""``python -m benchmarks``: the per-stage benchmark runner."""

import os
import sys

# one core per process: the targets are stated "on one core", and BLAS or OpenMP
# threads would otherwise borrow the other core from the batch benchmark
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from .runner import main  # noqa: E402 (after the thread settings)

sys.exit(main())
