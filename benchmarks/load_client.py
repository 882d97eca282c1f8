"""A minimal Streamlit websocket client: real sessions, no browser.

Each :class:`Session` opens ``/_stcore/stream`` like the browser does, runs the
script, learns the widget ids from the elements it receives, and then "changes a
control" by sending a rerun with new widget states. The time from sending a rerun
to the ``script_finished`` message is what a user waits for. Loopback only.
"""

from __future__ import annotations

import asyncio
import time

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


def _element_id(element) -> str | None:
    kind = element.WhichOneof("type")
    if kind is None:
        return None
    inner = getattr(element, kind)
    return getattr(inner, "id", None) or None


class Session:
    """One user's websocket session."""

    def __init__(self, url: str) -> None:
        self.ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
        self.ws = None
        self.widget_ids: dict[str, str] = {}
        self.states: dict[str, tuple[str, object]] = {}
        self.page_hash = ""
        self.pages: dict[str, str] = {}

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"],
                                           max_size=2**26, open_timeout=30)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def _learn_pages(self, pages) -> None:
        for page in pages:
            self.pages[page.page_name] = page.page_script_hash

    async def goto(self, page_name: str) -> float:
        """Open another page of the app (as a click in the navigation does)."""
        self.page_hash = self.pages[page_name]
        return await self.rerun()

    async def rerun(self, changes: dict[str, tuple[str, object]] | None = None,
                    timeout: float = 60.0) -> float:
        """Send a rerun with ``{key: (value_field, value)}`` changes; seconds until finished."""
        self.states.update(changes or {})
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = ""
        cs.page_script_hash = self.page_hash
        for key, (field, value) in self.states.items():
            wid = self.widget_ids.get(key)
            if wid is None:
                continue
            state = cs.widget_states.widgets.add()
            state.id = wid
            setattr(state, field, value)
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        deadline = t0 + timeout
        while True:
            left = max(deadline - time.perf_counter(), 0.1)
            raw = await asyncio.wait_for(self.ws.recv(), left)
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                wid = _element_id(fwd.delta.new_element)
                if wid and wid.startswith("$$ID-") and wid.count("-") >= 2:
                    self.widget_ids[wid.split("-", 2)[2]] = wid
            elif kind == "new_session":
                self.page_hash = fwd.new_session.page_script_hash or self.page_hash
                self._learn_pages(fwd.new_session.app_pages)
            elif kind == "navigation":
                self._learn_pages(fwd.navigation.app_pages)
                self.page_hash = fwd.navigation.page_script_hash or self.page_hash
            elif kind == "script_finished":
                return time.perf_counter() - t0
