"""Pass-through with aiosonic as the upstream client (see common.py)."""

from typing import Any

import aiosonic  # type: ignore[import-not-found]
from common import run

HEADERS = {"content-type": "application/json"}


async def make() -> Any:
    return aiosonic.HTTPClient()


async def fetch(client: Any, url: str, body: bytes) -> tuple[int, bytes]:
    r = await client.post(url, data=body, headers=HEADERS)
    return int(r.status_code), bytes(await r.content())


run(make, fetch)
