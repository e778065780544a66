"""Progress bars: tqdm's notebook widget where ipywidgets can draw it, tqdm's text bar everywhere else.

``tqdm.auto`` picks the widget bar whenever it runs inside Jupyter, and when ipywidgets is missing that bar
prints "IProgress not found. Please update jupyter and ipywidgets" instead of a bar. :func:`progress_bar`
asks for ``tqdm.auto`` only when ipywidgets is installed, so a notebook without it gets the plain text bar
and no warning.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache


@lru_cache(maxsize=1)
def tqdm_class():
    """``tqdm.auto.tqdm`` if ipywidgets is installed, else ``tqdm.std.tqdm`` (looked up once per process)."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


def progress_bar(iterable=None, **options):
    """``tqdm(iterable, **options)`` with the class :func:`tqdm_class` chooses; ``disable=True`` hides it."""
    return tqdm_class()(iterable, **options)
