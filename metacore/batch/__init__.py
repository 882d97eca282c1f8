"""Many meta-analyses at once: ``pool_batch`` and its compiled kernel, the MANTRA and
causal batches, the thread helper and the ``batch`` command line. Beside the layers:
imports ``data`` and ``models``."""

from metacore.batch.pool import BATCH_COLUMNS, pool_batch, warm_up

__all__ = ["BATCH_COLUMNS", "pool_batch", "warm_up"]
