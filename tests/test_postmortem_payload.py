"""The post-mortem's typed facts at the JSON edge: the documented keys, in order, absent where the schema omits them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from mlrel_cli.payloads.postmortem import (
    Change,
    Impact,
    IncidentFacts,
    Postmortem,
    RootCause,
    TimelineEntry,
    Times,
)
from mlrel_cli.report import Report, Status, jsonable

DOC = Path(__file__).resolve().parent.parent / "docs" / "postmortem.md"
T = dt.datetime(2026, 11, 25, 13, 0, tzinfo=dt.UTC)


def _change(**kw: object) -> Change:
    fields = dict(
        time=T,
        action="record",
        from_version=None,
        to_version=None,
        stage=None,
        traffic=None,
        actor="kim",
        reason=None,
        incident=None,
        kind="config",
        what="threshold 0.7 -> 0.6",
        ref=None,
        revert=None,
    )
    fields.update(kw)
    return Change(**fields)


def _facts(**kw: object) -> Postmortem:
    incident = IncidentFacts(
        id="INC-1", title="t", detected=dt.datetime(2026, 11, 25, 15, 40, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    )
    base: dict[str, object] = dict(
        incident=incident,
        metric=None,
        task=None,
        onset=None,
        window=900,
        times=Times(onset=None, weekly_error_budget_s=302.4, availability_target=0.9995),
    )
    base.update(kw)
    return Postmortem(**base)


def test_unknowns_are_left_out_and_times_keep_their_offset() -> None:
    out = jsonable(_facts())
    assert "change_point" not in out and out["impact"] == {}
    assert out["times"] == {"onset": None, "weekly_error_budget_s": 302.4, "availability_target": 0.9995}
    # as pydantic wrote the incident file's times: the offset given, not converted
    assert out["incident"]["detected"] == "2026-11-25T15:40:00+02:00" and out["incident"]["responders"] == []


def test_changes_causes_and_reverts() -> None:
    undo = _change(revert="set it back", ref="PR-9")
    promote = _change(action="promote", from_version="v41", to_version="v42", stage="production", kind=None, what=None)
    impact = Impact(predictions_affected=12, start=T, end=None)
    facts = _facts(
        changes=(promote, undo),
        impact=impact,
        root_causes=(RootCause("change", 1.5, "v42 promoted", promote, rank=1),),
        timeline=(TimelineEntry(T, "registry", "promote v42 (production) by kim"),),
    )
    out = jsonable(facts)
    assert out["changes"][0]["from"] == "v41" and out["changes"][0]["to"] == "v42"
    assert list(out["changes"][0]) == [
        "time",
        "action",
        "from",
        "to",
        "stage",
        "traffic",
        "actor",
        "reason",
        "incident",
        "kind",
        "what",
        "ref",
        "revert",
    ]
    assert out["impact"] == {"predictions_affected": 12, "from": "2026-11-25T13:00:00Z", "to": None}  # no metric measured
    assert out["root_causes"][0]["evidence"] == out["changes"][0] and out["root_causes"][0]["rank"] == 1
    assert out["reverts"] == [
        {
            "time": "2026-11-25T13:00:00Z",
            "kind": "config",
            "what": "threshold 0.7 -> 0.6",
            "ref": "PR-9",
            "revert": "set it back",
            "actor": "kim",
        }
    ]
    report = Report(command="postmortem", status=Status.PASS, summary="s", checks=(), sections={"postmortem": facts})
    assert report.to_dict()["postmortem"] == out


def test_the_documented_keys_are_the_json_keys_in_order() -> None:
    table = DOC.read_text().split("## The JSON", 1)[1]
    documented = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)
    from mlrel_cli.payloads.postmortem import ChangePoint

    out = jsonable(_facts(change_point=ChangePoint(0.001, 0.1, 0.2, None)))
    assert documented == list(out)
