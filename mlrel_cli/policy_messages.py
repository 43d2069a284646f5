"""Policy errors as people read them: a pydantic error as ``path: message`` with the closest known key or value.

Kept apart from the schema (``policy.py``), which passes its root model in, so these helpers know no model.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel


def suggest(word: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def join_problems(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems: " + "; ".join(problems)


def describe_error(error: Any, root: type[BaseModel]) -> str:
    """One pydantic error as ``path: message``, with a did-you-mean where it helps."""
    loc = file_loc(error["loc"])
    path = ".".join(str(p) for p in loc) or "(top level)"
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1], root)
        known = _field_names(parent) if parent is not None else []
        return f"{path}: unknown key '{loc[-1]}'{suggest(str(loc[-1]), known)}"
    if kind == "literal_error":
        options = _literal_options(loc, root)
        label = "method" if loc and loc[-1] == "method" else "value"
        allowed = ", ".join(repr(o) for o in options)
        return f"{path}: unknown {label} {value!r}{suggest(str(value), options)}; expected one of {allowed}"
    message = error["msg"]
    message = message.removeprefix("Value error, ")
    if kind == "missing":
        return f"{path}: required key is missing"
    if isinstance(value, dict | list):
        return f"{path}: {message}"
    return f"{path}: {message} (got {value!r})"


def file_loc(loc: Any) -> tuple[Any, ...]:
    """The path in the file: pydantic adds union members and validator names to locations."""
    internal = ("function", "constrained-")  # validator and constrained-type members of a union
    return tuple(
        part for part in loc if not (isinstance(part, str) and ("[" in part or part.startswith(internal) or part == "literal"))
    )


def unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional / Union / Annotated."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        out = []
        for arg in typing.get_args(annotation):
            out.extend(unwrap(arg))
        return out
    return [annotation]


def _model_at(loc: tuple[Any, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """Follow a location through the policy's models to the model that holds the last key."""
    current: Any = root
    for part in loc:
        next_type = None
        for candidate in unwrap(current):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                field = _field_by_key(candidate, str(part))
                if field is not None:
                    next_type = field.annotation
                    break
            elif typing.get_origin(candidate) is dict:
                next_type = typing.get_args(candidate)[1]
                break
            elif typing.get_origin(candidate) is list:
                next_type = typing.get_args(candidate)[0]
                break
        if next_type is None:
            return None
        current = next_type
    for candidate in unwrap(current):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if (field.alias or name) == key:
            return field
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _literal_options(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    parent = _model_at(loc[:-1], root)
    if parent is None:
        return []
    field = _field_by_key(parent, str(loc[-1]))
    if field is None:
        return []
    options: list[str] = []
    for candidate in unwrap(field.annotation):
        if typing.get_origin(candidate) is Literal:
            options.extend(str(o) for o in typing.get_args(candidate))
    return options
