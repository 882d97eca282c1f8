"""Page set-up: every page starts with :func:`setup`, so it also runs on its own."""

from __future__ import annotations

from ui import controls, state


def setup(ignored: dict[str, str] | None = None) -> None:
    """Initialise the session and draw the shared sidebar controls.

    ``ignored`` maps the keys of sidebar controls this page does not use to the reason;
    they are shown disabled, with the reasons, so no control seems to do nothing.
    """
    state.init()
    controls.sidebar(ignored or {})
