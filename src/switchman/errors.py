"""The one exception tree of switchman, and its mapping to OpenAI-shaped HTTP errors.

Every error the gateway can raise derives from :class:`SwitchmanError`. Each class carries the HTTP
status and the OpenAI ``error.type`` it maps to, so :func:`to_openai_error` is the single place where an
exception becomes a response. Messages must never contain secrets: providers build them from status
codes and upstream error messages only, never from request headers.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SwitchmanError(Exception):
    """Base of every error switchman raises on purpose."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


# --- configuration ---------------------------------------------------------------------------------


class ConfigError(SwitchmanError):
    """The configuration file is missing, unreadable or invalid (raised at start and on reload)."""

    error_type = "config_error"


class EmbedderUnavailable(ConfigError):
    """An embedder is unknown, or its weights cannot be loaded from the installed packages."""


class RouterArtifactError(ConfigError):
    """A router artifact is missing, corrupt, or was built with a different embedder."""


class DatasetError(ConfigError):
    """An outcomes dataset (or a file being imported into one) is unreadable or malformed."""


# --- client errors (4xx) ---------------------------------------------------------------------------


class ClientError(SwitchmanError):
    """The request is at fault; never retried, never falls back."""

    status = 400
    error_type = "invalid_request_error"


class InvalidRequest(ClientError):
    status = 400


class AuthenticationFailed(ClientError):
    status = 401
    error_type = "authentication_error"


class PermissionDenied(ClientError):
    status = 403
    error_type = "permission_error"


class NotFound(ClientError):
    status = 404
    error_type = "not_found_error"


class ModelNotFound(NotFound):
    def __init__(self, model: str) -> None:
        super().__init__(f"The model '{model}' does not exist", param="model", code="model_not_found")


class RequestTooLarge(ClientError):
    status = 413


class RateLimited(ClientError):
    """A switchman limit (key or model quota) refused the request."""

    status = 429
    error_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ServiceUnavailable(SwitchmanError):
    """A service the gateway needs for this request (e.g. the key store) cannot be reached."""

    status = 503
    error_type = "service_unavailable"


class NoCandidate(ClientError):
    """No configured model can serve this request (capabilities, context window, permissions)."""

    status = 400
    error_type = "invalid_request_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, param="model", code="no_candidate")


# --- upstream errors (provider failures) -----------------------------------------------------------


class UpstreamError(SwitchmanError):
    """A provider call failed.

    ``retryable``: another attempt at the same model may succeed; ``fallback_ok``: another model may.
    """

    status = 502
    error_type = "upstream_error"
    retryable: ClassVar[bool] = True
    fallback_ok: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        upstream_status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.provider = provider
        self.upstream_status = upstream_status
        self.retry_after = retry_after


class UpstreamConnectionError(UpstreamError):
    """Could not connect, or the connection was reset."""


class UpstreamTimeout(UpstreamError):
    status = 504
    error_type = "timeout_error"


class UpstreamRateLimited(UpstreamError):
    """The upstream answered 429."""

    status = 429
    error_type = "rate_limit_error"


class UpstreamServerError(UpstreamError):
    """The upstream answered 5xx."""


class UpstreamBadResponse(UpstreamError):
    """The upstream answered something that is not the API it claims to speak (malformed JSON...)."""


class UpstreamAuthError(UpstreamError):
    """The upstream refused the gateway's credentials: not the client's fault; another provider may serve."""

    retryable = False


class UpstreamClientError(UpstreamError):
    """The upstream rejected the request as invalid (4xx other than 429): not retried, no fallback."""

    retryable = False
    fallback_ok = False

    @property
    def http_status(self) -> int:
        s = self.upstream_status or 400
        return s if 400 <= s < 500 else 400


class ContextLengthExceeded(UpstreamClientError):
    """The upstream said the prompt does not fit its context window; a larger model may serve it."""

    fallback_ok = True


class UpstreamUnavailable(UpstreamError):
    """Every deployment that could serve the request has its circuit breaker open."""

    status = 503
    error_type = "service_unavailable"


def to_openai_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Map any exception to ``(status, {"error": {...}})`` in the OpenAI shape.

    Unknown exceptions become a generic 500 whose message reveals nothing of the internals.
    """
    if isinstance(exc, UpstreamClientError):
        status = exc.http_status
        etype = "invalid_request_error"
    elif isinstance(exc, SwitchmanError):
        status = exc.status
        etype = exc.error_type
    else:
        return 500, {
            "error": {
                "message": "internal error",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
    return status, {
        "error": {
            "message": exc.message,
            "type": etype,
            "param": exc.param,
            "code": exc.code,
        }
    }


def retry_after_of(exc: BaseException) -> float | None:
    """The Retry-After (seconds) an error carries, if any."""
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None
