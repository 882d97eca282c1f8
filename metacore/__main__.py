"""``python -m metacore``: see :mod:`metacore.batch.cli`."""

import sys

from metacore.batch.cli import main

sys.exit(main())
