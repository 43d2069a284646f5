"""Where facts are built: in this process (local), or next to the data on a Dask cluster (dask).

Both engines offer one interface (interface.Engine) and return the same
mergeable facts; only facts, never rows, travel from the workers to the
client. ``check_engine`` is the one place that states what an engine refuses,
``open_engine`` the one place that opens it from its name and scheduler.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlrel_cli.errors import LogError, MlrelError

if TYPE_CHECKING:
    from mlrel_cli.engine.interface import Engine
    from mlrel_cli.logs import Log

ENGINES = ("local", "dask")


def check_engine(
    name: str, labels: Log | None = None, shadow: bool = False, scheduler: str | None = None, exact: bool = False
) -> str:
    """The engine's name, once it is known and can do what is asked (before any row is read); ``exact``: a profile
    that keeps every value of each column (mlrel profile --exact)."""
    if name not in ENGINES:
        raise MlrelError(f"--engine: unknown engine '{name}' (expected local or dask)")
    if scheduler is not None and name != "dask":  # else the cluster named is ignored and the run is local, unsaid
        raise MlrelError(f"--scheduler names a Dask cluster, but the engine is {name}: add --engine dask (or engine: dask)")
    if name == "dask" and labels is not None:
        from mlrel_cli.engine.common import LABELS_NEED_ONE_PLACE

        raise LogError(LABELS_NEED_ONE_PLACE, labels.path)
    if name == "dask" and shadow:
        raise MlrelError("shadow mode pairs the models' rows on the id, which needs them in one place: use --engine local")
    if name == "dask" and exact:
        raise MlrelError(
            "--exact keeps every value of each column, which the Dask engine does not bring to one "
            "place: build a sketch profile on Dask (drop --exact), or an exact one with --engine local"
        )
    return name


@contextlib.contextmanager
def open_engine(name: str, scheduler: str | None = None, timeout: dt.timedelta | None = None) -> Iterator[Engine]:
    """The engine ``name`` (checked by check_engine), open for the block: on Dask, the scheduler's client, or a
    local cluster started on 127.0.0.1 and stopped afterwards."""
    if name == "dask":
        from mlrel_cli.engine.dask import DaskEngine, client

        with client(scheduler, timeout) as connection:
            yield DaskEngine(connection)
        return
    from mlrel_cli.engine.local import LocalEngine

    yield LocalEngine()
