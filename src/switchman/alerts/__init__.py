"""Alerts: rules over the ledger (cost per request, strong-tier share, errors, p99 latency, quality),
evaluated periodically, fired to the log and a webhook, de-duplicated."""
