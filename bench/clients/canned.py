"""No upstream at all: aiohttp's server answering a fixed body (what the server side alone costs)."""

import sys

from aiohttp import web

BODY = (
    b'{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":'
    b'{"role":"assistant","content":"Hello there."},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,'
    b'"completion_tokens":3,"total_tokens":23}}'
)


async def answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


app = web.Application()
app.router.add_post("/v1/chat/completions", answer)
if __name__ == "__main__":
    import uvloop

    loop = uvloop.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=loop)
