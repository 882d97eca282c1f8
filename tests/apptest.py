"""A page under Streamlit's AppTest, optionally with a table of the test's own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def run_page(page: str, table: pd.DataFrame | None = None) -> AppTest:
    """Run ``pages/<page>.py``; with ``table``, run again on that table. No exception."""
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=60).run()
    if table is not None:
        at.session_state["table"] = table
        at.run()
    assert not at.exception, at.exception
    return at
