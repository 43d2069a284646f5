"""Docs that tests keep true: every command has help with an example; every policy key is documented."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from mlrel_cli.cli.app import app
from mlrel_cli.policy import Policy
from mlrel_cli.policy_messages import unwrap as _unwrap

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _commands() -> list[str]:
    """Every command path: `validate`, `registry show`, ..."""
    import typer.main

    group = typer.main.get_command(app)
    paths = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        if hasattr(command, "commands"):
            paths.extend(f"{name} {sub}" for sub in command.commands)
        else:
            paths.append(name)
    return sorted(paths)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help_with_an_example(mlrel, command: str) -> None:
    result = mlrel(*command.split(), "--help")
    assert result.exit_code == 0
    assert "Example: mlrel " + command in " ".join(result.stdout.split())


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_in_the_readme_or_docs(command: str) -> None:
    text = (ROOT / "README.md").read_text() + "".join(p.read_text() for p in DOCS.glob("*.md"))
    assert f"mlrel {command}" in text


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        keys.append(prefix + key)
        for inner in _unwrap(field.annotation):
            target = inner
            if typing.get_origin(inner) is dict:
                target = typing.get_args(inner)[1]
            if isinstance(target, type) and issubclass(target, BaseModel):
                keys.extend(_keys(target, prefix + key + "."))
    return keys


def test_every_policy_key_is_documented() -> None:
    """Each key appears in backticks in docs/policy.md, nested keys together with their parent."""
    text = re.sub(r"```.*?```", "", (DOCS / "policy.md").read_text(), flags=re.S)
    tokens = [t.split(".") for t in re.findall(r"`([^`]+)`", text)]

    def documented(key: str) -> bool:
        parts = key.split(".")
        leaf = parts[-1]
        if len(parts) <= 2:
            return any(leaf in token for token in tokens)
        return any(leaf in token and parts[-2] in token for token in tokens)

    missing = [key for key in _keys(Policy) if not documented(key)]
    assert not missing, f"docs/policy.md does not mention: {missing}"


def test_every_report_field_is_documented() -> None:
    text = (DOCS / "reports.md").read_text()
    for field in (
        "schema_version",
        "command",
        "status",
        "exit_code",
        "error",
        "duration_s",
        "summary",
        "generated_at",
        "inputs",
        "counts",
        "checks",
        "name",
        "value",
        "threshold",
        "message",
        "source",
        "details",
    ):
        assert f"`{field}`" in text, field


def test_readme_quick_start_is_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\n+```(?:sh|bash)?\n(.*?)```", text, re.S)
    assert block, "README.md needs a '## Quick start' code block"
    commands = [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = re.search(r"## Quick start\n+```(?:sh|bash)?\n(.*?)```", readme, re.S).group(1).splitlines()[-1]
    assert test_command.strip() in ci


def test_help_starts_fast_without_heavy_imports() -> None:
    """`mlrel --help` at 3 a.m. must not wait for pandas, scipy or pyarrow."""
    code = (
        "import sys; from mlrel_cli.cli.app import app; "
        "print(sorted(m for m in ('pandas', 'scipy', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
