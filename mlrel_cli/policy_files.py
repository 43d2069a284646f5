"""A policy's files: reading one YAML file and its ``extends:`` bases, and writing one (``mlrel init``).

Only what reaching the data takes: the schema and its checks are ``policy.py``'s. A path that is not a regular
file (a device, a FIFO, a symlink loop) is refused before it is read, so ``-p /dev/zero`` is one error line,
not a read that never ends.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import yaml

from mlrel_cli.durations import format_duration
from mlrel_cli.errors import PolicyError
from mlrel_cli.files import require_regular_file


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, path: str, key: str, first_line: int, line: int) -> None:
        super().__init__(f"{path}: duplicate key '{key}' (lines {first_line} and {line})")
        self.path, self.key, self.first_line, self.line = path, key, first_line, line


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that a mapping with the same key twice is refused: PyYAML keeps the last
    silently, so a threshold written twice would hide the one the reader sees first."""

    def construct_document(self, node: yaml.Node) -> Any:
        _refuse_duplicate_keys(node, "")
        return super().construct_document(node)


def _refuse_duplicate_keys(node: yaml.Node, path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            key_path = f"{path}.{key}" if path else key
            if key in first_lines:
                raise DuplicateKeyError(key_path, key, first_lines[key], line)
            first_lines[key] = line
            _refuse_duplicate_keys(value_node, key_path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, f"{path}[{i}]")


def read_yaml(path: Path) -> dict[str, Any]:
    require_regular_file(path, "policy file", PolicyError)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy: {exc}", str(path)) from None
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader
    except DuplicateKeyError as exc:
        raise PolicyError(
            f"{exc.path}: key '{exc.key}' is written twice (lines {exc.first_line} and {exc.line}); YAML would keep only"
            " the last one silently",
            f"{path}:{exc.line}",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PolicyError(f"policy is not valid YAML: {problem}", where) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyError(f"policy must be a mapping of keys, not a {type(data).__name__}", str(path))
    return data


def read_with_bases(path: Path, chain: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict[str, str], tuple[str, ...]]:
    resolved = Path(os.path.realpath(path))  # not Path.resolve(), which raises on a symlink loop
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise PolicyError("policy extends itself in a cycle", cycle)
    data = read_yaml(path)
    bases = data.get("extends")
    if bases is None:
        base_list: list[Any] = []
    elif isinstance(bases, str):
        base_list = [bases]
    elif isinstance(bases, list):
        base_list = bases
    else:
        raise PolicyError("extends: must be a file path or a list of file paths", str(path))

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    files: list[str] = []
    for base in base_list:
        if not isinstance(base, str):
            raise PolicyError(f"extends: {base!r} is not a file path", str(path))
        base_path = (path.parent / base) if not Path(base).is_absolute() else Path(base)
        base_data, base_sources, base_files = read_with_bases(base_path, (*chain, resolved))
        merged = _deep_merge(merged, base_data)
        sources.update(base_sources)
        files.extend(f for f in base_files if f not in files)

    own = {k: v for k, v in data.items() if k != "extends"}
    merged = _deep_merge(merged, own)
    for leaf in _leaf_paths(own):
        sources[leaf] = str(path)
    files.append(str(path))
    return merged, sources, tuple(files)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _leaf_paths(data: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths.extend(_leaf_paths(value, path + "."))
        else:
            paths.append(path)
    return paths


def dump_policy(data: dict[str, Any]) -> str:
    """YAML for a policy dict, durations spelled as people write them, keys in the given order."""

    def convert(value: Any) -> Any:
        if isinstance(value, dt.timedelta):
            return format_duration(value)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return yaml.safe_dump(convert(data), sort_keys=False, default_flow_style=None, width=100)
