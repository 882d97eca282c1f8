"""``python -m metacore``: see :mod:`metacore.cli`."""

import sys

from metacore.cli import main

sys.exit(main())
