"""Policy loading: defaults, extends with provenance, and errors that name their path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlrel_cli.durations import format_duration, parse_duration
from mlrel_cli.errors import PolicyError
from mlrel_cli.policy import load_policy


def test_empty_policy_gives_documented_defaults(write_policy) -> None:
    policy = load_policy(write_policy(""))
    assert policy.validate_.missing.max_fraction == 0.5
    assert policy.validate_.ranges.max_fraction == 0.01
    assert policy.drift.methods.numeric == "wasserstein"
    assert policy.columns.id == "prediction_id"
    assert policy.source_of("validate.missing.max_fraction") == "default"


def test_extends_merges_and_tracks_which_file_set_each_value(write_policy) -> None:
    base = write_policy("validate:\n  missing: {max_fraction: 0.2, tolerance: 0.01}\n", "org/base.yaml")
    team = write_policy(
        "extends: org/base.yaml\nvalidate:\n  missing: {max_fraction: 0.1}\n  ranges: {max_fraction: 0.02}\n",
        "team.yaml",
    )
    policy = load_policy(team)
    assert policy.validate_.missing.max_fraction == 0.1
    assert policy.validate_.missing.tolerance == 0.01
    assert policy.source_of("validate.missing.max_fraction") == str(team)
    assert policy.source_of("validate.missing.tolerance") == str(base)
    assert policy.source_of("validate.duplicates.max_fraction") == "default"
    assert policy.files == (str(base), str(team))


def test_extends_cycle_is_an_error(write_policy) -> None:
    write_policy("extends: b.yaml\n", "a.yaml")
    b = write_policy("extends: a.yaml\n", "b.yaml")
    with pytest.raises(PolicyError, match="cycle"):
        load_policy(b)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "drift:\n  features:\n    price: {method: pis}\n",
            "drift.features.price.method: unknown method 'pis' (did you mean 'psi'?)",
        ),
        ("columns: {lable: y}\n", "columns.lable: unknown key 'lable' (did you mean 'label'?)"),
        ("validate:\n  mising: {}\n", "validate.mising: unknown key 'mising' (did you mean 'missing'?)"),
        (
            "validate:\n  missing: {max_fraction: 1.5}\n",
            "validate.missing.max_fraction: Input should be less than or equal to 1",
        ),
        (
            "validate:\n  missing: {max_fraction: lots}\n",
            "validate.missing.max_fraction: Input should be a valid number",
        ),
        ("validate:\n  freshness: {max_age: 10}\n", "validate.freshness.max_age: 10 has no unit"),
        (
            "validate:\n  performance: {metrics: {acuracy: {min: 0.9}}}\n",
            "unknown metric 'acuracy' (did you mean 'accuracy'?)",
        ),
        ("task: binary\n", "task: unknown value 'binary'"),
        ("features:\n  x: {min: 5, max: 1}\n", "features.x: min (5.0) is greater than max (1.0)"),
    ],
)
def test_bad_policies_name_the_path(write_policy, text: str, expected: str) -> None:
    path = write_policy(text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_invalid_yaml_names_line_and_column(write_policy) -> None:
    path = write_policy("validate:\n  missing: [1, 2\n")
    with pytest.raises(PolicyError, match=r"not valid YAML.*:\d+:\d+"):
        load_policy(path)


def test_policy_that_is_a_list_is_rejected(write_policy) -> None:
    with pytest.raises(PolicyError, match="mapping"):
        load_policy(write_policy("- a\n- b\n"))


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.yaml")


def test_every_problem_is_reported_at_once(write_policy) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(write_policy("columns: {lable: y}\nvalidate:\n  missing: {max_fraction: 3}\n"))
    assert "2 problems" in str(info.value)


def test_example_policies_load() -> None:
    configs = Path(__file__).resolve().parent.parent / "configs"
    files = sorted(p for p in configs.glob("*.yaml") if not p.name.startswith("incident"))
    assert files
    for path in files:
        load_policy(path)


@given(st.integers(1, 10_000), st.sampled_from("smhdw"))
def test_durations_round_trip(number: int, unit: str) -> None:
    delta = parse_duration(f"{number}{unit}")
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize("text", ["", "5", "h", "1x", "-1h", "0m", "1 hour"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_duration_units() -> None:
    assert parse_duration("15m") == dt.timedelta(minutes=15)
    assert parse_duration("1.5h") == dt.timedelta(minutes=90)


@pytest.mark.parametrize("kind", ["device", "fifo", "loop", "base-loop"])
def test_a_policy_that_is_not_a_regular_file_is_refused_before_it_is_read(tmp_path: Path, kind: str) -> None:
    """``-p /dev/zero`` read until the kernel killed mlrel; a symlink loop escaped as a RuntimeError."""
    import os

    if kind == "device":
        path, expected = Path("/dev/zero"), "not a regular file"
    elif kind == "fifo":
        path, expected = tmp_path / "policy.yaml", "not a regular file"
        os.mkfifo(path)  # a reader would block forever waiting for a writer
    else:
        (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
        (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
        path, expected = tmp_path / "a.yaml", "symbolic links"
        if kind == "base-loop":
            path = tmp_path / "policy.yaml"
            path.write_text("extends: a.yaml\ntask: binary\n")
    with pytest.raises(PolicyError, match=expected) as caught:
        load_policy(path)
    assert caught.value.where.endswith(("/dev/zero", "policy.yaml", "a.yaml"))
