"""An input file read whole (a policy, an incident): refused before it is read unless it is a regular file, so a
device (``/dev/zero`` never ends), a FIFO (blocks for a writer) or a symlink loop is one error line."""

from __future__ import annotations

import stat
from pathlib import Path

from mlrel_cli.errors import MlrelError


def require_regular_file(path: Path, what: str, error: type[MlrelError] = MlrelError) -> None:
    """Raise ``error`` naming ``what`` (``"policy file"``) and the path, unless ``path`` is a regular file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise error(f"{what} not found", str(path)) from None
    except OSError as exc:  # a symlink loop, a path through a file, no permission
        raise error(f"cannot read {what}: {exc.strerror or exc}", str(path)) from None
    if stat.S_ISDIR(mode):
        raise error(f"{what} is a directory, not a file", str(path))
    if not stat.S_ISREG(mode):
        raise error(f"{what} is not a regular file (a device, a FIFO or a socket)", str(path))
