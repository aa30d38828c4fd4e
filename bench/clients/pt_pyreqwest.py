"""Pass-through with pyreqwest (Rust reqwest) as the upstream client (see common.py)."""

from typing import Any

from common import run
from pyreqwest.client import ClientBuilder  # type: ignore[import-not-found]


async def make() -> Any:
    return ClientBuilder().max_connections(256).build()


async def fetch(client: Any, url: str, body: bytes) -> tuple[int, bytes]:
    req = client.post(url).header("content-type", "application/json").body_bytes(body).build()
    r = await req.send()
    return int(r.status), bytes(await r.bytes())


run(make, fetch)
