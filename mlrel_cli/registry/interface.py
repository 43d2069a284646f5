"""The one interface every registry backend implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from mlrel_cli.registry.model import Event, ModelRecord

Change = Callable[[ModelRecord], tuple[ModelRecord, Event]]


class Registry(Protocol):
    location: str

    def read(self, model: str) -> ModelRecord:
        """The model's record (RegistryError if the registry is unreadable or has no such model)."""
        ...

    def models(self) -> list[str]: ...

    def change(self, model: str, change: Change, create: bool = False) -> tuple[ModelRecord, Event]:
        """Apply ``change`` to the freshest record atomically, and append its event; all or nothing."""
        ...
