"""Writing files safely: reports atomically, the run history append-only under a lock."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout

from mlrel_cli.errors import OutputError

LOCK_TIMEOUT_S = 30


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write the whole file or nothing: a temporary file beside it, fsync, then rename over it."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError("cannot write report: directory does not exist", str(directory))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write report: {exc.strerror}", str(target)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode(target))
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write report: {exc.strerror}", str(target)) from None


def file_mode(target: Path) -> int:
    """Keep an existing file's permissions; a new one gets the usual 0666 less the umask (mkstemp makes 0600)."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def append_history(path: str | os.PathLike[str], line: str) -> None:
    """Append one JSON line; overlapping cron runs take turns on a lock file beside it."""
    target = Path(path)
    if not target.parent.is_dir():
        raise OutputError("cannot append to run history: directory does not exist", str(target.parent))
    try:
        with FileLock(str(target) + ".lock", timeout=LOCK_TIMEOUT_S), open(target, "a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except Timeout:
        raise OutputError(f"run history is locked by another run for over {LOCK_TIMEOUT_S}s", str(target)) from None
    except OSError as exc:
        raise OutputError(f"cannot append to run history: {exc.strerror}", str(target)) from None


def check_writable(path: str | os.PathLike[str], what: str) -> None:
    """Fail before the work starts if an output could not be written afterwards."""
    remote = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(.*)$", str(path))  # a URI, which Path folds to s3:/bucket
    if remote:
        uri = f"{remote[1]}://{remote[2]}"
        raise OutputError(f"cannot write {what} to an object store: give a local path and copy the file there", uri)
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {what}: directory does not exist", str(parent))
    if target.is_dir():
        raise OutputError(f"cannot write {what}: path is a directory", str(target))
