"""Serving: the HTTP edge (parse, auth, limits), handing requests to routing and dispatch."""
