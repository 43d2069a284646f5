"""Where summaries are built: in this process (local), or next to the data on a Dask cluster (dask).

Both engines return the same thing, one mergeable summary per column; the
local engine keeps exact sorted values, the Dask engine quantile sketches,
so only summaries, never rows, travel from the workers to the client.
"""

from __future__ import annotations

from mlrel_cli.errors import MlrelError

ENGINES = ("local", "dask")


def check_engine(name: str) -> None:
    if name not in ENGINES:
        raise MlrelError(f"--engine: unknown engine '{name}' (expected local or dask)")
