"""The typed sections of a ``Report``: built by the analyses, read by the renderers, turned into JSON at the edge.

A payload is a frozen dataclass; ``report.jsonable`` calls its ``to_json`` (the documented field names and
order, docs/reports.md), so an analysis and a renderer share attribute names checked by mypy rather than dict keys.
This package sits beside ``report``: it imports nothing from the layers above it.
"""
