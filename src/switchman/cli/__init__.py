"""The `switchman` command line: one module per command group."""
