"""Every file mlrel writes goes through here, under one set of rules.

- never an input of the run: the resolved output is compared with the resolved inputs (and refused
  inside an input directory, where the next run would read it);
- an existing non-regular file (a device, a FIFO, ``/dev/stdout``, ``/dev/null``) is written in place,
  never replaced by a regular file; a symlink writes its target;
- a regular file is replaced atomically (a temporary file beside it, fsync, rename) keeping its mode;
  a read-only one is refused unless ``force``;
- files that belong together (a retrain set and its manifest) are committed through a journal, so no
  reader sees a new file beside an old companion, and a run killed mid-way is rolled forward or its
  temporary files removed by the next run writing there.

The run history is append-only under a lock.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from mlrel_cli.errors import OutputError

LOCK_TIMEOUT_S = 30
TMP_MARK = ".mlrel-tmp"
JOURNAL_SUFFIX = ".mlrel-commit.json"


@dataclass(frozen=True)
class Target:
    """A checked output: where the bytes go and how they get there."""

    path: Path  # as the user gave it, for messages
    real: Path  # symlinks followed: the file that changes
    in_place: bool  # an existing device, FIFO or /dev/stdout: opened and written, never renamed over
    what: str


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _resolved_inputs(inputs: Iterable[str | os.PathLike[str] | None]) -> tuple[set[Path], set[Path]]:
    """The input files and directories of the run, symlinks resolved; URIs are never local outputs."""
    files: set[Path] = set()
    dirs: set[Path] = set()
    for item in inputs:
        if item is None:
            continue
        text = os.fspath(item)
        if "://" in text:
            continue
        for name in glob.glob(text, recursive=True) if _is_glob(text) else [text]:
            path = Path(os.path.realpath(name))  # not resolve(): a symlink loop raises there; its reader says why
            (dirs if path.is_dir() else files).add(path)
    return files, dirs


def plan(
    path: str | os.PathLike[str],
    what: str = "report",
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    force: bool = False,
) -> Target:
    """Check an output before any work starts: a run that cannot record its result must fail at once."""
    given = Path(path)
    remote = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(.*)$", os.fspath(path))  # s3://..., also as Path folds it: s3:/...
    if remote:
        uri = f"{remote[1]}://{remote[2]}"
        raise OutputError(f"cannot write {what} to an object store: give a local path and copy the file there", uri)
    # /dev/stdout, /dev/fd/N, /proc/self/fd/N name the process's own descriptors: written through,
    # even when the shell redirected them to a regular file (renaming over it would lose that file);
    # not resolved, since a pipe's /proc link points at no path ("pipe:[1234]")
    descriptor = os.path.abspath(given).startswith(("/dev/", "/proc/"))
    # realpath, not resolve(): a symlink loop raises RuntimeError there; os.stat below refuses it (ELOOP)
    real = Path(os.path.abspath(given)) if descriptor else Path(os.path.realpath(given))
    files, dirs = _resolved_inputs(inputs)
    if real in files:
        raise OutputError(f"the {what} would overwrite an input of this run", str(given))
    for directory in dirs:
        if real == directory or real.is_relative_to(directory):
            message = f"the {what} would be written inside the input directory, where the next run would read it"
            raise OutputError(message, str(given))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"cannot write {what}: {exc.strerror}", str(given)) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {what}: path is a directory", str(given))
    in_place = descriptor or (st is not None and not stat.S_ISREG(st.st_mode))
    if in_place:
        if not os.access(real, os.W_OK):
            raise OutputError(f"cannot write {what}: permission denied", str(given))
        return Target(given, real, True, what)
    if not real.parent.is_dir():
        raise OutputError(f"cannot write {what}: directory does not exist", str(given.parent))
    if st is not None and not force and (not os.access(real, os.W_OK) or not st.st_mode & 0o222):
        # os.access says yes to root whatever the mode: the mode bits are the owner's intent
        raise OutputError(f"{what} file is read-only; pass --force to replace it", str(given))
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {what}: the directory is not writable", str(real.parent))
    return Target(given, real, False, what)


def file_mode(target: Path) -> int:
    """Keep an existing file's permissions; a new one gets the usual 0666 less the umask (mkstemp makes 0600)."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _tmp_path(real: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{real.name}.{os.getpid()}.", suffix=TMP_MARK, dir=real.parent)
    os.close(fd)
    return Path(name)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def staged(target: Target) -> Iterator[Path]:
    """A temporary path to write to (any writer: text, Parquet, PNG); made the target when the block ends.

    An in-place target (a device, a FIFO) is copied into after the block, so a writer that
    seeks or renames still works and a failed writer leaves the device untouched.
    """
    tmp = _tmp_path(target.real)
    try:
        yield tmp
        _commit_one(target, tmp)
    finally:
        tmp.unlink(missing_ok=True)


def _commit_one(target: Target, tmp: Path) -> None:
    try:
        if target.in_place:
            with open(tmp, "rb") as src:
                if _is_stdout(target.real):
                    # our own stdout (`-o /dev/stdout > file`): write through it, at its offset, not over it
                    sys.stdout.flush()
                    shutil.copyfileobj(src, sys.stdout.buffer)
                    sys.stdout.buffer.flush()
                    return
                with open(target.path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            return
        _fsync_file(tmp)
        os.chmod(tmp, file_mode(target.real))
        os.replace(tmp, target.real)
        _fsync_dir(target.real.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {target.what}: {exc.strerror}", str(target.path)) from None


def _is_stdout(path: Path) -> bool:
    try:
        mine, theirs = os.fstat(sys.stdout.fileno()), os.stat(path)
    except (OSError, ValueError, AttributeError):
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def write_with(target: Target, writer: Callable[[Path], bool]) -> bool:
    """Let ``writer`` fill a temporary path (a chart, a Parquet file); committed only when it returns True."""
    tmp = _tmp_path(target.real)
    try:
        made = writer(tmp)
        if made:
            _commit_one(target, tmp)
        return made
    finally:
        tmp.unlink(missing_ok=True)


def write_text(target: Target, text: str) -> list[str]:
    """Write the whole file or nothing; returns what was cleaned up of an earlier killed run (``recover``)."""
    notes = recover(target)
    try:
        with staged(target) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {target.what}: {exc.strerror}", str(target.path)) from None
    return notes


def journal_path(first: Target) -> Path:
    return first.real.parent / f".{first.real.name}{JOURNAL_SUFFIX}"


def write_pair(first: Target, write_first: Callable[[Path], None], second: Target, second_text: Callable[[Path], str]) -> None:
    """Commit two files that belong together (data and its manifest) so that no reader sees a mismatch.

    ``second_text`` gets the data's temporary path. Both are written to temporary files first, then a
    journal naming the renames is fsynced; then the old companion is removed, the data renamed, the
    companion renamed and the journal removed. A reader sees the old pair, the new pair, or data
    without a companion (incomplete, never mismatched); a run killed after the journal was written is
    finished by the next one (``recover``).
    """
    if first.in_place or second.in_place:
        raise OutputError(f"cannot write {first.what} to a device or pipe: it needs a regular file", str(first.path))
    tmp_first = _tmp_path(first.real)
    tmp_second = _tmp_path(second.real)
    journal = journal_path(first)
    try:
        write_first(tmp_first)
        # the companion is made from the data as written (its checksum), before either is visible
        tmp_second.write_text(second_text(tmp_first), encoding="utf-8")
        for tmp, target in ((tmp_first, first), (tmp_second, second)):
            _fsync_file(tmp)
            os.chmod(tmp, file_mode(target.real))
        steps = [[str(tmp_first), str(first.real)], [str(tmp_second), str(second.real)]]
        journal.write_text(json.dumps({"companion": str(second.real), "renames": steps}), encoding="utf-8")
        _fsync_file(journal)
        _fsync_dir(journal.parent)
    except OSError as exc:
        journal.unlink(missing_ok=True)
        tmp_first.unlink(missing_ok=True)
        tmp_second.unlink(missing_ok=True)
        raise OutputError(f"cannot write {first.what}: {exc.strerror}", str(first.path)) from None
    except BaseException:
        journal.unlink(missing_ok=True)
        tmp_first.unlink(missing_ok=True)
        tmp_second.unlink(missing_ok=True)
        raise
    # from here the new pair is decided: an interrupt (SIGINT) still finishes the renames
    _roll_forward(journal)


def _roll_forward(journal: Path) -> None:
    entry = json.loads(journal.read_text(encoding="utf-8"))
    companion = Path(entry["companion"])
    renames = [(Path(src), Path(dst)) for src, dst in entry["renames"]]
    if renames[0][0].exists():
        # the data is not yet renamed: drop the old companion first, so it is never seen beside new data
        companion.unlink(missing_ok=True)
    for src, dst in renames:
        if src.exists():
            os.replace(src, dst)
    _fsync_dir(journal.parent)
    journal.unlink(missing_ok=True)
    _fsync_dir(journal.parent)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(*targets: Target) -> list[str]:
    """Finish or clean what a killed run left beside these outputs; says what it did, one line each.

    A journal is rolled forward (its temporary files were complete); a temporary file of a process
    that is gone is removed. Those of a run still going are left alone.
    """
    notes: list[str] = []
    for target in targets:
        if target.in_place:
            continue
        journal = journal_path(target)
        if journal.exists():
            try:
                _roll_forward(journal)
                notes.append(f"finished the interrupted commit of {target.path} and its companion")
            except (OSError, ValueError, KeyError) as exc:
                raise OutputError(f"cannot finish an interrupted commit ({exc}); remove it by hand", str(journal)) from None
        for leftover in target.real.parent.glob(f".{glob.escape(target.real.name)}.*{TMP_MARK}"):
            pid_text = leftover.name[len(target.real.name) + 2 :].split(".", 1)[0]
            if pid_text.isdigit() and _pid_alive(int(pid_text)):
                continue
            size = leftover.stat().st_size if leftover.exists() else 0
            leftover.unlink(missing_ok=True)
            notes.append(f"removed {leftover.name} ({size:,} bytes) left by an interrupted run")
    return notes


def append_history(path: str | os.PathLike[str], line: str) -> None:
    """Append one JSON line; overlapping cron runs take turns on a lock file beside it."""
    target = Path(path)
    if not target.parent.is_dir():
        raise OutputError("cannot append to run history: directory does not exist", str(target.parent))
    try:
        if target.exists() and not target.is_file():  # a device or FIFO (/dev/stdout): written in place, no lock
            with open(target, "a", encoding="utf-8") as handle:  # beside it (/dev/x.lock) and no fsync (EINVAL)
                handle.write(line.rstrip("\n") + "\n")
            return
        with FileLock(str(target) + ".lock", timeout=LOCK_TIMEOUT_S), open(target, "a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except Timeout:
        raise OutputError(f"run history is locked by another run for over {LOCK_TIMEOUT_S}s", str(target)) from None
    except OSError as exc:
        raise OutputError(f"cannot append to run history: {exc.strerror}", str(target)) from None


def plan_history(
    path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None] = (), force: bool = False
) -> Target:
    """The run history is appended to, so a read-only one is refused like a report; never an input."""
    return plan(path, "run history", inputs, force)
