"""Where model versions and every change to what serves traffic are recorded."""

from __future__ import annotations

from mlrel_cli.registry.interface import Registry


def open_registry(location: str) -> Registry:
    """A YAML file path, or an MLflow tracking URI (http://, https://, sqlite://, databricks, mlflow:...)."""
    if location.startswith(("http://", "https://", "sqlite:", "databricks", "mlflow:", "postgresql:", "mysql:")):
        from mlrel_cli.registry.mlflow import MlflowRegistry

        return MlflowRegistry(location.removeprefix("mlflow:"))
    from mlrel_cli.registry.file import FileRegistry

    return FileRegistry(location)


__all__ = ["Registry", "open_registry"]
