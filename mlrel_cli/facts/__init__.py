"""Facts: what the checks need to know about a log, built from Arrow tables, the same on every engine.

Beneath the analyses and the engines: no I/O and no judging here. An engine
builds facts over a log (in process, or per row group next to the data) and
merges them; an analysis judges them. Nothing here imports analysis/ or
engine/ (tests/test_architecture.py).

    columns.py   column facts: numeric, prediction, time, window counts, label counts, categories
    merge.py     the generic mergeables: sums, samples, keyed parts, window parts
    windows.py   the window grid and which rows fall in each window
    proxy.py     proxy-metric inputs, checked on the schema, and their per-request sums
    labelled.py  labelled-rows parts: what a label metric and its bootstrap need, as sums
    models.py    per-model evidence for compare: one model's rows, and its parts on a worker
"""
