"""Charts to PNG or SVG, rendered in a child process.

vl-convert holds the interpreter lock while it renders: inside the Streamlit
server, one large export (300 studies with long names) froze every other session
for close to a minute. Rendering in a child process with a timeout keeps the server
responsive, and a runaway render is killed instead of waited for.
"""

from __future__ import annotations

import json
import subprocess
import sys

from metacore._extras import check
from metacore.errors import MetacoreError

__all__ = ["RenderError", "to_image"]

#: Seconds a render may take before it is stopped.
TIMEOUT = 60.0
#: Largest PNG drawn at a requested resolution (pixels).
MAX_PIXELS = 40e6


class RenderError(MetacoreError):
    """A chart could not be rendered to an image."""


def to_image(spec: dict, fmt: str = "png", *, scale: float = 2.0, dpi: float | None = None,
             timeout: float = TIMEOUT) -> bytes:
    """Render a Vega-Lite spec to PNG (``scale`` × its CSS pixels) or SVG bytes.

    With ``dpi`` the PNG is drawn at that resolution for a CSS inch (96 px) and
    records it in the file (300 for print); ``scale`` is then ignored.

    Raises
    ------
    RenderError
        If the renderer fails or takes longer than ``timeout`` seconds.
    """
    if fmt not in ("png", "svg"):
        raise ValueError(f"fmt must be 'png' or 'svg', not {fmt!r}")
    # the child imports vl-convert; say which extra brings it rather than relay its traceback
    check("vl_convert", "Charts as PNG or SVG")
    if dpi and isinstance(spec.get("width"), (int, float)) and \
            isinstance(spec.get("height"), (int, float)):
        # a very tall plot at print resolution would be hundreds of megapixels: the
        # resolution drops until the image stays under MAX_PIXELS (the file records it)
        pixels = float(spec["width"]) * float(spec["height"]) * (dpi / 96) ** 2
        if pixels > MAX_PIXELS:
            dpi = max(96.0, dpi * (MAX_PIXELS / pixels) ** 0.5)
    try:
        args = [fmt, str(scale), str(dpi or 0)]
        proc = subprocess.run([sys.executable, "-m", "metacore.report.render", *args],
                              input=json.dumps(spec).encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"Rendering the chart took longer than {timeout:.0f} s and was "
                          "stopped.") from None
    if proc.returncode != 0 or not proc.stdout:
        raise RenderError("The chart could not be rendered: "
                          + proc.stderr.decode("utf-8", "replace")[-300:])
    return proc.stdout


def _main() -> None:
    import resource

    import vl_convert as vlc

    resource.setrlimit(resource.RLIMIT_CPU, (int(TIMEOUT) + 5, int(TIMEOUT) + 5))
    fmt, scale, dpi = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    spec = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    if fmt == "png" and dpi > 0:
        # vl-convert counts 72 px to the inch; a CSS inch is 96 px
        out = vlc.vegalite_to_png(spec, scale=72 / 96, ppi=dpi)
    elif fmt == "png":
        out = vlc.vegalite_to_png(spec, scale=scale)
    else:
        out = vlc.vegalite_to_svg(spec).encode("utf-8")
    sys.stdout.buffer.write(out)


if __name__ == "__main__":
    _main()
