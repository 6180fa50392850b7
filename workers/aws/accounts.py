"""AWS accounts to audit: their credentials, the process's clients they share, and a count of their calls."""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.client import ClientCreator
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.loaders import Loader

from workers.aws.errors import AWS_ERRORS, ApiError, from_exception
from workers.core.check_catalogue import PlanError
from workers.core.settings import Settings


@functools.lru_cache(maxsize=32)
def _config(max_attempts: int, timeout: float) -> Config:
    return Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        connect_timeout=timeout,
        read_timeout=timeout,
        max_pool_connections=64,
    )


def client_config(settings: Settings) -> Config:
    """Timeouts, a wide connection pool for parallel calls, and botocore's adaptive retries for throttling (one
    object for the same settings: the process's clients are shared by the accounts that use it)."""
    return _config(settings.aws_max_attempts, settings.aws_timeout)


_BASE: botocore.session.Session | None = None
_BASE_LOCK = threading.RLock()
_LOADER: Loader | None = None
_SHARED: dict[tuple[str, str, int | None, int], Any] = {}  # (service, region, attempts, config) -> client
_ACTIVE: contextvars.ContextVar[Account | None] = contextvars.ContextVar("trail_audit_account", default=None)


def new_session() -> botocore.session.Session:
    """A botocore session on the standard credential chain (AWS_ENDPOINT_URL is honoured by botocore itself).

    Every session of the process shares one loader, which keeps the service models it has parsed, and one
    client class per service: a new session (new credentials, a reset) or a new region parses nothing again and
    builds no class again.
    """
    global _LOADER
    session = botocore.session.Session()
    with _BASE_LOCK:
        if _LOADER is None:
            _LOADER = session.get_component("data_loader")
            _reuse_client_classes()
        session.register_component("data_loader", _LOADER)
    return session


def _reuse_client_classes() -> None:
    """Keep, for the process, the service model and the client class (one method per operation) botocore
    makes for a service each time it makes a client: both are read-only once made."""
    for name in ("_load_service_model", "_create_client_class"):
        make = getattr(ClientCreator, name, None)
        if make is None or getattr(make, "_kept", False):
            continue  # another botocore: it makes them as it likes
        setattr(ClientCreator, name, _kept(make))


def _kept(make: Any) -> Any:
    made: dict[tuple[Any, ...], Any] = {}

    def kept(self: ClientCreator, service_name: str, other: Any = None) -> Any:
        key = (service_name, str(getattr(other, "api_version", other)))
        with _BASE_LOCK:
            found = made.get(key)
        if found is None:
            found = make(self, service_name, other)
            with _BASE_LOCK:
                found = made.setdefault(key, found)
        return found

    kept._kept = True  # type: ignore[attr-defined]
    return kept


def base_session() -> botocore.session.Session:
    """The process's one botocore session, made on first use (use it only under `_BASE_LOCK`)."""
    global _BASE
    with _BASE_LOCK:
        if _BASE is None:
            _BASE = new_session()
        return _BASE


def own_client(service: str, region: str, config: Config) -> Any:
    """A client on the process's own credentials (not an audited account's), e.g. for its event queue."""
    with _BASE_LOCK:
        return base_session().create_client(service, region_name=region, config=config)


def reset_base_session() -> None:
    """Forget the process's session, clients and accounts (tests that change the environment or session)."""
    global _BASE
    with _BASE_LOCK:
        _BASE = None
        _ACCOUNTS.clear()
        _SHARED.clear()


def _shared_client(service: str, region: str, config: Config, max_attempts: int | None) -> Any:
    """The process's one client for a service, region and retry policy, used by every account.

    Making a botocore client costs about 7 ms of CPU and 125 KiB (its event hooks are copied from the
    session), so a client per account and region would cost 17 regions x 3 services of both per account, every
    time an account's credentials are renewed. A shared client signs each request with the credentials of the
    account that makes it (`_on_call`), and refuses a call made outside an account.
    """
    key = (service, region, max_attempts, id(config))
    with _BASE_LOCK:
        found = _SHARED.get(key)
        if found is None:
            if max_attempts is not None:
                config = config.merge(Config(retries={"mode": "standard", "max_attempts": max_attempts}))
            found = base_session().create_client(service, region_name=region, config=config)
            found.meta.events.register("before-call", _on_call)
            _SHARED[key] = found
        return found


def _on_call(model: Any, context: dict[str, Any], **_: Any) -> None:
    """Before each request of a shared client: count it for the account that makes it, and have it signed with
    that account's credentials (none: the process's own, the current account's)."""
    account = _ACTIVE.get()
    if account is None:
        raise RuntimeError(f"{model.name} was called outside an account (use Account.client)")
    account.count(f"{model.service_model.service_name}:{model.name}")
    if account.signing is not None:
        context.setdefault("signing", {})["request_credentials"] = account.signing


class _Paginator:
    """A paginator whose requests are made as its account."""

    def __init__(self, paginator: Any, account: Account) -> None:
        self._paginator = paginator
        self._account = account

    def paginate(self, **params: Any) -> Iterator[Any]:
        """The pages, each requested as the account."""
        pages = iter(self._paginator.paginate(**params))
        while True:
            token = _ACTIVE.set(self._account)
            try:
                page = next(pages)
            except StopIteration:
                return
            finally:
                _ACTIVE.reset(token)
            yield page


class AccountClient:
    """A shared client seen through one account: each operation is called as that account."""

    __slots__ = ("_account", "_client")

    def __init__(self, client: Any, account: Account) -> None:
        self._client = client
        self._account = account

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if name == "get_paginator":
            return lambda operation: _Paginator(found(operation), self._account)
        if name in ("meta", "exceptions") or not callable(found):
            return found

        def as_account(*args: Any, **kwargs: Any) -> Any:
            token = _ACTIVE.set(self._account)
            try:
                return found(*args, **kwargs)
            finally:
                _ACTIVE.reset(token)

        return as_account


@dataclass
class Account:
    """One AWS account: its id, and the credentials to reach it (None: the standard chain).

    Its clients are the process's shared ones, seen through the account (`AccountClient`): every request is
    signed with the account's credentials and counted in `calls` ("service:Operation").
    """

    id: str
    config: Config
    credentials: dict[str, str] | None = None
    role_arn: str | None = None
    expires: dt.datetime | None = None
    calls: Counter[str] = field(default_factory=Counter)
    signing: Credentials | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.credentials and self.signing is None:
            c = self.credentials
            self.signing = Credentials(c["aws_access_key_id"], c["aws_secret_access_key"], c.get("aws_session_token"))

    def count(self, name: str) -> None:
        """Count one API call ("service:Operation")."""
        with self._lock:
            self.calls[name] += 1

    def client(self, service: str, region: str, max_attempts: int | None = None) -> Any:
        """The process's client for this service and region, calling as this account (thread-safe).

        `max_attempts` caps retries for callers that pace themselves (LookupEvents) and would rather fail
        fast than back off for long on a persistent error.
        """
        return AccountClient(_shared_client(service, region, self.config, max_attempts), self)


@dataclass(frozen=True)
class AccountError:
    """An account that could not be reached: its role could not be assumed, or its identity not read."""

    label: str
    error: ApiError


_ACCOUNTS: OrderedDict[str, Account] = OrderedDict()
_KEEP = 10_000  # accounts kept (TRAIL_AUDIT_ACCOUNT_CACHE): their credentials, least recently used out
_RENEW_BEFORE = dt.timedelta(minutes=10)


def _cached(key: str) -> Account | None:
    with _BASE_LOCK:
        account = _ACCOUNTS.get(key)
        if account is not None:
            _ACCOUNTS.move_to_end(key)
    if account and account.expires and account.expires - _RENEW_BEFORE < dt.datetime.now(dt.UTC):
        return None
    return account


def _remember(key: str, account: Account, keep: int = _KEEP) -> Account:
    with _BASE_LOCK:
        _ACCOUNTS[key] = account
        _ACCOUNTS.move_to_end(key)
        while len(_ACCOUNTS) > keep:
            _ACCOUNTS.popitem(last=False)  # its clients go with it
    return account


def default_account(settings: Settings) -> Account | AccountError:
    """The account of the current credentials (identified once per process)."""
    cached = _cached("default")
    if cached is not None:
        return cached
    account = Account(id="unknown", config=client_config(settings))
    try:
        identity = account.client("sts", settings.home_region).get_caller_identity()
    except AWS_ERRORS as exc:
        return AccountError("current credentials", from_exception("sts", "GetCallerIdentity", exc))
    account.id = identity["Account"]
    return _remember("default", account)


def assumed_account(settings: Settings, role_arn: str) -> Account | AccountError:
    """The account behind `role_arn`, reached with sts:AssumeRole (and the external id, when set).

    The credentials are kept for the process until ten minutes before they expire.
    """
    cached = _cached(role_arn)
    if cached is not None:
        return cached
    config = client_config(settings)
    sts = Account(id="caller", config=config).client("sts", settings.home_region)
    params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "trail-audit"}
    if settings.external_id is not None:
        params["ExternalId"] = settings.external_id.get_secret_value()
    try:
        creds = sts.assume_role(**params)["Credentials"]
    except AWS_ERRORS as exc:
        return AccountError(role_arn, from_exception("sts", "AssumeRole", exc))
    credentials = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    account_id = role_arn.split(":")[4] if role_arn.count(":") >= 5 else "unknown"
    expires = creds.get("Expiration")
    account = Account(
        id=account_id,
        config=config,
        credentials=credentials,
        role_arn=role_arn,
        expires=expires if isinstance(expires, dt.datetime) else None,
    )
    return _remember(role_arn, account, settings.account_cache)


def account_label(item: Account | AccountError) -> str:
    """The account id, or for an unreachable account the account id in its role ARN."""
    if isinstance(item, Account):
        return item.id
    parts = item.label.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else item.label


def account_for(settings: Settings, role_arn: str | None) -> Account | AccountError:
    """The account a job works in: the current credentials', or an assumed role's (kept per process)."""
    return assumed_account(settings, role_arn) if role_arn else default_account(settings)


def account_of(settings: Settings, role_arn: str | None) -> Account:
    """The account a job acts in; raises PlanError (its sentence names the failure) when it cannot be reached."""
    acct = account_for(settings, role_arn)
    if isinstance(acct, AccountError):
        raise PlanError(acct.error.sentence())
    return acct
