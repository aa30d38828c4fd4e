"""The exception tree maps to OpenAI-shaped errors with the right status."""

from __future__ import annotations

import pytest

from switchman.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    RateLimited,
    RequestTooLarge,
    UpstreamClientError,
    UpstreamServerError,
    UpstreamTimeout,
    to_openai_error,
)


@pytest.mark.parametrize(
    ("exc", "status", "etype"),
    [
        (InvalidRequest("bad", param="x"), 400, "invalid_request_error"),
        (ModelNotFound("m"), 404, "not_found_error"),
        (RequestTooLarge("big"), 413, "invalid_request_error"),
        (RateLimited("slow down", retry_after=3), 429, "rate_limit_error"),
        (UpstreamServerError("down", upstream_status=503), 502, "upstream_error"),
        (UpstreamTimeout("slow"), 504, "timeout_error"),
        (UpstreamClientError("nope", upstream_status=422), 422, "invalid_request_error"),
        (ContextLengthExceeded("too long", upstream_status=400), 400, "invalid_request_error"),
    ],
)
def test_mapping(exc: Exception, status: int, etype: str) -> None:
    got_status, body = to_openai_error(exc)
    assert got_status == status
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == etype
    assert body["error"]["message"] == str(exc)


def test_unknown_exception_reveals_nothing() -> None:
    status, body = to_openai_error(KeyError("internal detail /etc/passwd"))
    assert status == 500
    assert "passwd" not in body["error"]["message"]


def test_model_not_found_names_param() -> None:
    _, body = to_openai_error(ModelNotFound("gpt-9"))
    assert body["error"]["param"] == "model" and body["error"]["code"] == "model_not_found"
