"""API errors carry their Tencent Cloud error code, so every layer can refuse with the exact wire code.

They are rendered in one place (the API front door) into the `Response.Error` envelope; nothing else
turns an exception into a response.
"""

from __future__ import annotations


class ApiError(Exception):
    """A refusal that the client sees as `Response.Error{Code, Message}` (always HTTP 200)."""

    code: str = "InternalError"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


def _subclass(name: str, code: str) -> type[ApiError]:
    return type(name, (ApiError,), {"code": code, "__doc__": f"`{code}`"})


class AuthFailure(ApiError):
    """Any `AuthFailure.*` code; pass the exact sub-code."""

    code = "AuthFailure"


class InvalidAction(ApiError):
    code = "InvalidAction"


class NoSuchVersion(ApiError):
    code = "NoSuchVersion"


class MissingParameter(ApiError):
    code = "MissingParameter"


class UnknownParameter(ApiError):
    code = "UnknownParameter"


class InvalidParameter(ApiError):
    code = "InvalidParameter"


class InvalidParameterValue(ApiError):
    code = "InvalidParameterValue"


class ResourceNotFound(ApiError):
    code = "ResourceNotFound"


class ResourceInUse(ApiError):
    code = "ResourceInUse"


class FailedOperation(ApiError):
    code = "FailedOperation"


class UnsupportedOperation(ApiError):
    code = "UnsupportedOperation"


class NotImplementedYet(UnsupportedOperation):
    """An action the official SDK defines for this API version that trigflow does not serve (yet).

    Why `UnsupportedOperation.NotImplemented` and not `InvalidAction`: InvalidAction says the action does
    not exist, which is false (the SDK sends it) and sends the user hunting for a typo; `ActionOffline`
    says it was retired, also false. UnsupportedOperation ("not supported") is the honest common code,
    and the sub-code tells this case apart from the state refusals that use the bare code (a disabled
    project, a rerun of a running run) while a client matching the `UnsupportedOperation` prefix still
    understands it.
    """

    code = "UnsupportedOperation.NotImplemented"


class UnsupportedProtocol(ApiError):
    code = "UnsupportedProtocol"


class UnsupportedRegion(ApiError):
    code = "UnsupportedRegion"


class RequestLimitExceeded(ApiError):
    code = "RequestLimitExceeded"


class RequestSizeLimitExceeded(ApiError):
    code = "RequestSizeLimitExceeded"


class InternalError(ApiError):
    code = "InternalError"
