"""Routing: pure, synchronous decisions (no network, disk or server imports)."""
