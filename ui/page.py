"""Page set-up: every page starts with :func:`setup`, so it also runs on its own."""

from __future__ import annotations

from ui import controls, state


def setup() -> None:
    """Initialise the session and draw the shared sidebar controls."""
    state.init()
    controls.sidebar()
