"""The simulated upstream: deterministic answers, real token counts, configurable latency and faults."""
