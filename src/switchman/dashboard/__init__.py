"""The read-only dashboard (``/dashboard``): server-rendered HTML with inline SVG charts, no JavaScript
build and nothing fetched from the internet."""
