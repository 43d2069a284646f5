"""The typed sections of compare, the drill, validate, retrain-set and the registry at the JSON edge: the report holds
frozen dataclasses (or the registry's records), the renderers read their attributes, and the JSON keeps the
documented keys in order."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from mlrel_cli.payloads.drill import FaultResult, WindowOutcome
from mlrel_cli.payloads.retrain import Manifest, RowCounts, Source
from mlrel_cli.payloads.slices import Condition, WeakSegment, WeakSlice
from mlrel_cli.payloads.table import Table
from mlrel_cli.payloads.validate import SegmentRow
from mlrel_cli.render import markdown, segments
from mlrel_cli.report import Report, Status, jsonable

ROOT = Path(__file__).resolve().parent.parent
SLICE_KEYS = [
    "conditions",
    "rows",
    "metric",
    "inside",
    "outside",
    "delta",
    "ci_low",
    "ci_high",
    "effect",
    "p_value",
    "adjusted_p",
]


def _slice() -> WeakSlice:
    conditions = (Condition("amount", "between", (10.0, 250.5)), Condition("country", "==", "BR"))
    return WeakSlice(conditions, 1200, 0.31, 0.12, 0.19, 0.15, 0.23, 0.4, 1e-6, 2e-5)


def test_a_weak_segment_row_per_command() -> None:
    found = _slice()
    assert list(jsonable(WeakSegment(found, "log_loss"))) == SLICE_KEYS  # validate's
    compare = jsonable(WeakSegment(found, "log_loss", candidate="v42"))
    assert list(compare) == [*SLICE_KEYS, "candidate"] and compare["candidate"] == "v42"
    postmortem = jsonable(WeakSegment(found, "log_loss", labelled=True))
    assert list(postmortem) == [*SLICE_KEYS, "label"] and postmortem["label"] == "10 <= amount < 250.5 and country == BR"
    assert compare["conditions"][0] == {"column": "amount", "op": "between", "value": [10.0, 250.5]}
    # validate keeps its slices in the check's free-form details and reads them back
    assert WeakSlice.from_dict(found.to_dict("log_loss")) == found


def test_the_weak_segments_table_reads_the_rows() -> None:
    report = Report("compare", Status.WARN, "s", (), sections={"weak_segments": (WeakSegment(_slice(), "log_loss", "v42"),)})
    assert segments.columns(report)[3:5] == ("candidate", "baseline")
    assert segments.rows(report) == [
        ["10 <= amount < 250.5 and country == BR (v42)", "1,200", "log_loss", "0.31", "0.12", "+0.19 [+0.15, +0.23]", "2e-05"]
    ]


def test_compare_sections_are_typed_and_their_json_is_to_dict() -> None:
    from mlrel_cli.analysis.compare import compare_logs
    from mlrel_cli.logs import open_log
    from mlrel_cli.payloads.compare import Candidate
    from mlrel_cli.policy import load_policy

    policy = load_policy(ROOT / "configs" / "fraud.yaml")
    report = compare_logs(policy, open_log(ROOT / "samples" / "incident.parquet"), "v41", ["v42"], None, [], None)
    (cand,) = report.sections["candidates"]
    assert isinstance(cand, Candidate) and dataclasses.is_dataclass(cand)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cand.verdict = "promote"  # type: ignore[misc]
    out = report.to_dict()
    assert out["candidates"] == [jsonable(cand.to_dict())]
    assert list(out["candidates"][0])[:8] == [
        "version",
        "verdict",
        "reasons",
        "score",
        "metrics",
        "segments",
        "rows",
        "labelled_rows",
    ]
    assert list(out["candidates"][0])[-1] == "rank"
    rows = report.sections["weak_segments"]
    assert all(isinstance(r, WeakSegment) and r.candidate == "v42" for r in rows)
    assert [r["candidate"] for r in out["weak_segments"]] == ["v42"] * len(rows)
    # the rollout's evidence reads the same numbers the JSON shows
    from mlrel_cli import rollout

    evidence = rollout._metric_evidence(cand.metrics_by_name["roc_auc"])
    shown = out["candidates"][0]["metrics"]["roc_auc"]
    assert evidence == {k: shown[k] for k in ("baseline", "candidate", "delta", "ci_low", "ci_high", "classification")}


def test_a_fault_s_windows_end_where_the_next_begins() -> None:
    at = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    us = int(at.timestamp() * 1_000_000)
    width = 15 * 60 * 1_000_000
    windows = (WindowOutcome(us, us + width, 500, ()), WindowOutcome(us + width, us + 2 * width, 480, ("volume",)))
    fault = FaultResult("traffic_drop", 0.5, at, True, "volume", "volume", 900.0, 980, True, True, windows)
    out = jsonable(fault)
    assert out["status"] == "pass" and list(out)[:3] == ["fault", "column", "size"]
    assert out["windows"][1] == {
        "start": "2026-11-24T00:15:00Z",
        "end": "2026-11-24T00:30:00Z",
        "rows": 480,
        "failing": ["volume"],
    }


def test_a_segment_row_says_its_metrics_or_why_not() -> None:
    judged = jsonable(SegmentRow("country", "BR", 900, True, metrics={"roc_auc": 0.8}))
    assert judged == {"segment": "country", "value": "BR", "rows": 900, "judged": True, "metrics": {"roc_auc": 0.8}}
    skipped = jsonable(SegmentRow("country", "PT", 12, False, why="fewer than 200 labelled rows"))
    assert list(skipped) == ["segment", "value", "rows", "judged", "why"]


def test_the_manifest_file_is_the_report_s_manifest(tmp_path) -> None:
    from mlrel_cli.analysis.retrain import retrain_set, spec_with
    from mlrel_cli.logs import open_log
    from mlrel_cli.policy import load_policy

    policy = load_policy(ROOT / "configs" / "fraud.yaml")
    out = tmp_path / "train.parquet"
    spec = spec_with(policy, strategy="recent", last="1d")
    report = retrain_set(open_log(ROOT / "samples" / "incident.parquet"), policy, spec, out)
    manifest = report.sections["manifest"]
    assert isinstance(manifest, Manifest) and manifest.rows.written == report.checks[0].value > 0
    written = json.loads(out.with_name("train.manifest.json").read_text())
    assert written == report.to_dict()["manifest"] == jsonable(manifest)
    assert list(report.to_dict()["manifest"])[:3] == ["output", "output_sha256", "sources"]
    assert manifest.rows.label_coverage == manifest.rows.labelled / manifest.rows.rows


def test_row_counts_of_an_empty_read() -> None:
    assert RowCounts(0, 0, 0, 0).label_coverage == 0.0
    m = Manifest("o", "x", (Source("a", "b"),), None, "recent", {}, 0, RowCounts(4, 2, 1, 1), {}, {}, ())
    assert jsonable(m)["labels"] is None and jsonable(m)["sources"] == [{"path": "a", "sha256": "b"}]


def test_a_command_table_in_markdown() -> None:
    table = Table("versions", ("version", "status"), (("v41", "retired"), ("v|42", "production")))
    text = markdown.render(Report("registry show", Status.PASS, "s", (), sections={"table": table}))
    assert "### versions\n\n| version | status |\n|---|---|\n| v41 | retired |\n| v\\|42 | production |" in text
    assert jsonable(table) == {
        "title": "versions",
        "columns": ["version", "status"],
        "rows": [["v41", "retired"], ["v|42", "production"]],
    }


def test_registry_records_show_their_documented_names() -> None:
    from mlrel_cli.registry.model import Event

    event = Event(time="2026-11-25T10:00:00Z", actor="kim", action="promote", **{"from": "v41", "to": "v42"})
    assert jsonable(event) == {
        "time": "2026-11-25T10:00:00Z",
        "actor": "kim",
        "action": "promote",
        "from_version": "v41",
        "to_version": "v42",
    }
