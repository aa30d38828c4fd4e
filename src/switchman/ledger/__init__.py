"""The ledger: one row per call (tables, migrations, the batched writer with its spool, queries).

Depends only on plain values (:mod:`switchman.records`, :mod:`switchman.config.model`); never on
routing, providers, serving or dispatch.
"""
