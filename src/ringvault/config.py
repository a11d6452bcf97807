"""Where ringvault keeps its files, and the environment variables that move them.

- ``RINGVAULT_HOME``: the directory for the token file (default: the platform config dir, e.g.
  ``~/.config/ringvault``).
- ``RINGVAULT_TOKEN_FILE``: the token file itself (default ``$RINGVAULT_HOME/token.json``).
- ``RINGVAULT_CLOUD_URL``: send all Ring traffic to a simulator (see ``ringvault.cloud.endpoints``).
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "RINGVAULT_HOME"
TOKEN_FILE_ENV = "RINGVAULT_TOKEN_FILE"


def home_dir() -> Path:
    value = os.environ.get(HOME_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("ringvault"))


def token_path() -> Path:
    value = os.environ.get(TOKEN_FILE_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    return home_dir() / "token.json"
