"""Pass-through with rnet (Rust) as the upstream client (see common.py)."""

from typing import Any

import rnet  # type: ignore[import-not-found]
from common import run

HEADERS = {"content-type": "application/json"}


async def make() -> Any:
    return rnet.Client()


async def fetch(client: Any, url: str, body: bytes) -> tuple[int, bytes]:
    r = await client.post(url, body=body, headers=HEADERS)
    return int(str(r.status)) if not isinstance(r.status, int) else r.status, bytes(await r.bytes())


run(make, fetch)
