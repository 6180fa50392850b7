"""Turning botocore exceptions into a named API error and the IAM action behind it."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from workers.state import metrics

# Operations whose IAM action is not "<prefix>:<OperationName>".
_ACTION_OVERRIDES = {
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "DeleteBucketLifecycle"): "s3:PutLifecycleConfiguration",
}
# boto3 service names whose IAM prefix differs.
_PREFIXES = {"logs": "logs", "config": "config", "cloudwatch": "cloudwatch"}


def iam_action(service: str, operation: str) -> str:
    """The IAM action an API call needs, e.g. ("cloudtrail", "GetTrailStatus") -> "cloudtrail:GetTrailStatus"."""
    return _ACTION_OVERRIDES.get((service, operation), f"{_PREFIXES.get(service, service)}:{operation}")


@dataclass(frozen=True)
class ApiError:
    """Why a piece of evidence could not be obtained."""

    service: str
    operation: str
    code: str
    message: str

    @property
    def action(self) -> str:
        """The IAM action of the failed call."""
        return iam_action(self.service, self.operation)

    @property
    def access_denied(self) -> bool:
        """True when the error is a missing permission."""
        return self.code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"}

    def sentence(self) -> str:
        """A human sentence naming the error; the IAM action only when a permission is what is missing."""
        if self.access_denied:
            return f"{self.operation} was denied ({self.code}): the IAM action {self.action} is missing."
        return f"{self.operation} failed with {self.code} ({self.message})."

    def to_dict(self) -> dict[str, str]:
        """Evidence form of the error."""
        return {"error": self.code, "operation": self.operation, "iam_action": self.action, "message": self.message}


def from_exception(service: str, operation: str, exc: Exception) -> ApiError:
    """Classify an exception raised by a boto3 call (and count it for `GET /metrics`).

    Only botocore's own exceptions are expected here; anything else is a bug and is re-raised by the caller.
    """
    error = _classify(service, operation, exc)
    metrics.note("aws_errors", service=service, operation=operation, code=error.code)
    return error


def _classify(service: str, operation: str, exc: Exception) -> ApiError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "Unknown"))
        return ApiError(service, operation, code, _one_line(str(err.get("Message") or code)))
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return ApiError(service, operation, "Timeout", str(exc))
    if isinstance(exc, EndpointConnectionError):
        return ApiError(service, operation, "EndpointConnectionError", str(exc))
    if isinstance(exc, NoCredentialsError):
        return ApiError(service, operation, "NoCredentials", "no AWS credentials were found")
    if isinstance(exc, BotoCoreError):
        return ApiError(service, operation, type(exc).__name__, str(exc))
    raise TypeError(f"not an AWS error: {exc!r}")


def _one_line(message: str, limit: int = 200) -> str:
    """An error message fit for a sentence: no HTML page, no line breaks, not too long."""
    if message.lstrip().startswith("<"):
        return "the service answered with an HTML error page"
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
"""The exceptions a boto3 call can raise for reasons outside our code."""
