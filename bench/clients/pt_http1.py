"""Pass-through with switchman's own upstream client (``switchman.providers.http1``, see common.py)."""

from typing import Any

from common import run

from switchman.providers.http1 import Endpoint

ENDPOINTS: dict[str, Endpoint] = {}


async def make() -> Any:
    return None


async def fetch(client: Any, url: str, body: bytes) -> tuple[int, bytes]:
    ep = ENDPOINTS.get(url)
    if ep is None:
        ep = ENDPOINTS[url] = Endpoint(
            "bench",
            url,
            {"content-type": "application/json"},
            max_connections=256,
            connect_timeout=5,
            read_timeout=30,
        )
    async with ep.post(body, 30.0) as resp:
        return resp.status, await resp.read()


run(make, fetch)
