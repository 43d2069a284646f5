"""Which Parquet files a log's path names: a file, a directory (hive partitions allowed) or a glob, local or a URI."""

from __future__ import annotations

import fnmatch
import glob as globlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from mlrel_cli.errors import LogError, first_line
from mlrel_cli.files import require_regular_file


def local_files(text: str, label: str) -> tuple[list[str], str | None]:
    """The Parquet files a path names, and the directory hive partitions start from."""
    if any(ch in text for ch in "*?["):
        files = sorted(f for f in globlib.glob(text, recursive=True) if os.path.isfile(f))
        if not files:
            raise LogError(f"no {label} files match the pattern", text)
        prefix = text[: min(text.index(ch) for ch in "*?[" if ch in text)]
        base = os.path.dirname(prefix) or "."
        return files, base
    path = Path(text)
    if not path.exists():
        raise LogError(f"{label} not found", text)
    if path.is_dir():
        files = sorted(
            str(p)
            for p in path.rglob("*")
            if p.is_file()
            and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
            and p.suffix in (".parquet", ".parq", ".pq", "")
        )
        if not files:
            raise LogError(f"{label} directory holds no Parquet files", text)
        return files, str(path)
    require_regular_file(path, label, LogError)  # a FIFO blocks pyarrow's read for a writer that never comes
    return [str(path)], None


def remote_files(fs: pafs.FileSystem, root: str, text: str, label: str) -> tuple[list[str], str | None]:
    if any(ch in root for ch in "*?["):
        return _glob_remote(fs, root, text, label)
    try:
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.NotFound:
            raise LogError(f"{label} not found", text)
        if info.type == pafs.FileType.File:
            return [root], None
        entries = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    except (pa.ArrowException, OSError) as exc:
        raise LogError(f"cannot list the {label}: {first_line(exc)}", text) from None
    prefix = root.rstrip("/") + "/"
    files = sorted(
        e.path
        for e in entries
        if e.type == pafs.FileType.File
        and not any(part.startswith((".", "_")) for part in e.path.removeprefix(prefix).split("/"))
        and (e.path.endswith((".parquet", ".parq", ".pq")) or "." not in e.path.rsplit("/", 1)[-1])
    )
    if not files:
        raise LogError(f"{label} directory holds no Parquet files", text)
    return files, root


def _glob_remote(fs: pafs.FileSystem, pattern: str, text: str, label: str) -> tuple[list[str], str | None]:
    """A glob on an object store (``s3://bucket/date=*/part-*.parquet``): the keys under the pattern's fixed
    prefix are listed once, then matched segment by segment, ``*`` not crossing a ``/``, as a local glob."""
    base = pattern[: min(pattern.index(ch) for ch in "*?[" if ch in pattern)].rpartition("/")[0]
    try:
        entries = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    except (pa.ArrowException, OSError) as exc:
        raise LogError(f"cannot list the {label}: {first_line(exc)}", text) from None
    wanted = pattern.split("/")
    files = sorted(e.path for e in entries if e.type == pafs.FileType.File and _glob_match(e.path.split("/"), wanted))
    if not files:
        raise LogError(f"no {label} files match the pattern", text)
    return files, base


def _glob_match(parts: list[str], pattern: list[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":  # any number of folders, as glob's recursive=True
        return any(_glob_match(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _glob_match(parts[1:], pattern[1:])
