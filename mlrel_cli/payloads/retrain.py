"""retrain-set's manifest (the report's ``manifest`` and the ``.manifest.json`` written beside the training set),
typed until the JSON edge (docs/retrain.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# segment column -> value -> rows
SegmentMix = dict[str, dict[str, int]]


@dataclass(frozen=True)
class Source:
    """A file read, with its checksum."""

    path: str
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256}


@dataclass(frozen=True)
class RowCounts:
    """The rows read, those with a label, those the strategy selected, and those written (after upsampling)."""

    rows: int
    labelled: int
    selected: int
    written: int

    @property
    def label_coverage(self) -> float:
        return self.labelled / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class Manifest:
    """What the set was drawn from and how: enough to rebuild it byte for byte. ``parameters`` are the strategy's
    own options, as the user gave them (free-form, like a check's details)."""

    output: str
    output_sha256: str
    sources: tuple[Source, ...]
    labels: Source | None
    strategy: str
    parameters: dict[str, Any]
    seed: int
    rows: RowCounts
    segments_before: SegmentMix
    segments_after: SegmentMix
    explanation: tuple[str, ...]
    created_by: str = "mlrel retrain-set"

    def to_json(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "output_sha256": self.output_sha256,
            "sources": [s.to_json() for s in self.sources],
            "labels": self.labels.to_json() if self.labels is not None else None,
            "strategy": self.strategy,
            "parameters": self.parameters,
            "seed": self.seed,
            "rows": {
                "rows": self.rows.rows,
                "labelled": self.rows.labelled,
                "selected": self.rows.selected,
                "written": self.rows.written,
            },
            "label_coverage": self.rows.label_coverage,
            "segments_before": self.segments_before,
            "segments_after": self.segments_after,
            "explanation": list(self.explanation),
            "created_by": self.created_by,
        }
