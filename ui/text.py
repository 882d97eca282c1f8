"""User text made safe to show: the one place that escapes it.

Study names, column headers, file and sheet names reach captions, errors and
labels, which Streamlit renders as Markdown: ``![](http://host/beacon)`` would load
an image and ``[click](http://…)`` would become a link. :func:`md` makes such text
inert by backslash-escaping every ASCII punctuation character (CommonMark allows
that escape for each of them) and folding line breaks.
"""

from __future__ import annotations

import re

__all__ = ["md"]

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_SPACE = re.compile(r"\s+")


def md(text: object) -> str:
    """``text`` as literal Markdown: shown exactly as typed, never as markup.

    >>> md("![x](http://a.b/c.png) *bold*")
    '\\\\!\\\\[x\\\\]\\\\(http\\\\:\\\\/\\\\/a\\\\.b\\\\/c\\\\.png\\\\) \\\\*bold\\\\*'
    """
    plain = _SPACE.sub(" ", str(text).replace("\x00", ""))
    return _PUNCTUATION.sub(r"\\\1", plain)
