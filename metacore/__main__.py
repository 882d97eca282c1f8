"""The ``metacore`` command (``python -m metacore`` and the console script): the subcommands of
:mod:`metacore.report.cli` and ``batch`` from :mod:`metacore.batch.cli`.

The two are joined here, outside the layers: ``batch`` stands beside them, so the report layer
may not import it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from metacore.batch import cli as batch_cli
from metacore.report import cli


def _run_batch(args: argparse.Namespace) -> int:
    n = batch_cli.run(args)
    print(f"{n:,} meta-analyses written to {Path(args.output)}", file=sys.stderr)
    return 0


def _add_batch(sub) -> None:
    batch_cli.add_parser(sub).set_defaults(run=_run_batch)


def main(argv: list[str] | None = None) -> int:
    """Run the ``metacore`` command with ``argv`` (default: the command line); its exit code.

    >>> main(["analyse", "no-such-table.csv"])
    1
    """
    return cli.main(argv, extra=(_add_batch,))


if __name__ == "__main__":
    sys.exit(main())
