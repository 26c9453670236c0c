"""The user cache folder: trained feature classifiers, real-data features, parsed bundled data."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$GANHACKS_CACHE``, else ``$XDG_CACHE_HOME/ganhacks``, else ``~/.cache/ganhacks``."""
    root = os.environ.get("GANHACKS_CACHE")
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "ganhacks"
