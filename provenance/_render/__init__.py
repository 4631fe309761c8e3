"""Layer 9: renderings of the results (text, rich, HTML) and their display, above the results.

Importing this package registers the renderers (``formats.RENDERERS``); rich, IPython and
pandas are imported only when something is rendered.
"""

from __future__ import annotations

from . import formats as formats
