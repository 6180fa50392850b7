"""One AWS call, or every page of one: the answer as plain JSON, or the `ApiError` that kept us from it.

Every fact trail-audit judges goes through here, so that a missing answer can never be mistaken for a good one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from botocore import xform_name

from workers.aws.accounts import Account
from workers.aws.errors import AWS_ERRORS, ApiError, from_exception
from workers.core.check_catalogue import PlanError

Fact = Any  # the API's answer, or an ApiError


def call(
    account: Account, service: str, region: str, operation: str, attempts: int | None = None, **params: Any
) -> Fact:
    """One API call: the answer (without ResponseMetadata, datetimes as ISO text) or an ApiError.

    `attempts` caps retries where a failure has a fallback (AWS's pattern evaluator, for one).
    """
    client = account.client(service, region, attempts)
    method = getattr(client, xform_name(operation))
    try:
        answer = method(**params)
    except AWS_ERRORS as exc:
        return from_exception(service, operation, exc)
    answer.pop("ResponseMetadata", None)
    return _plain(answer)


def paginate(account: Account, service: str, region: str, operation: str, key: str, **params: Any) -> Fact:
    """Every page of a paginated call, the items under `key` joined; or the first ApiError."""
    client = account.client(service, region)
    items: list[Any] = []
    try:
        for page in client.get_paginator(xform_name(operation)).paginate(**params):
            items.extend(page.get(key, []))
    except AWS_ERRORS as exc:
        return from_exception(service, operation, exc)
    return _plain(items)



def unwrap(answer: Fact, key: str) -> Fact:
    """The list under `key` of an answer, or the answer's ApiError."""
    return answer if isinstance(answer, ApiError) else answer.get(key, [])


def read(account: Account, service: str, region: str, operation: str, **params: Any) -> Any:
    """One call whose failure stops a plan: the answer, or a `PlanError` with the error's sentence."""
    answer = call(account, service, region, operation, **params)
    if isinstance(answer, ApiError):
        raise PlanError(answer.sentence())
    return answer


def _plain(value: Any) -> Any:
    """Responses with datetimes as ISO text, so facts and evidence are plain JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value

