"""AWS accounts to audit: credentials, thread-safe clients kept for the process, and a count of the calls."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.client import ClientCreator
from botocore.config import Config
from botocore.loaders import Loader

from workers.aws.errors import AWS_ERRORS, ApiError, from_exception
from workers.core.check_catalogue import PlanError
from workers.core.settings import Settings


def client_config(settings: Settings) -> Config:
    """Timeouts, a wide connection pool for parallel calls, and botocore's adaptive retries for throttling."""
    return Config(
        retries={"mode": "adaptive", "max_attempts": settings.aws_max_attempts},
        connect_timeout=settings.aws_timeout,
        read_timeout=settings.aws_timeout,
        max_pool_connections=64,
    )


_BASE: botocore.session.Session | None = None
_BASE_LOCK = threading.RLock()
_LOADER: Loader | None = None


def new_session() -> botocore.session.Session:
    """A botocore session on the standard credential chain (AWS_ENDPOINT_URL is honoured by botocore itself).

    Every session of the process shares one loader, which keeps the service models it has parsed, and one
    client class per service: a new session (new credentials, a reset) or a new region parses nothing again and
    builds no class again, which is most of what making a client costs (an audit makes two per region).
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
    """Forget the process's session and accounts (tests that change the environment or session factory)."""
    global _BASE
    with _BASE_LOCK:
        _BASE = None
        _ACCOUNTS.clear()


@dataclass
class Account:
    """One AWS account: its id, and the credentials to reach it (None: the standard chain).

    Clients are made once per service and region, from the process's session, and shared by threads
    (boto3 clients are thread-safe). Every API call they make is counted in `calls` ("service:Operation").
    """

    id: str
    config: Config
    credentials: dict[str, str] | None = None
    role_arn: str | None = None
    expires: dt.datetime | None = None
    calls: Counter[str] = field(default_factory=Counter)
    _clients: dict[tuple[str, str, int | None], Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _count(self, model: Any, **_: Any) -> None:
        name = f"{model.service_model.service_name}:{model.name}"
        with self._lock:
            self.calls[name] += 1

    def client(self, service: str, region: str, max_attempts: int | None = None) -> Any:
        """A shared boto3 client for this account, service and region.

        `max_attempts` caps retries for callers that pace themselves (LookupEvents) and would rather fail
        fast than back off for long on a persistent error.
        """
        key = (service, region, max_attempts)
        with self._lock:
            found = self._clients.get(key)
        if found is not None:
            return found
        config = self.config
        if max_attempts is not None:
            config = config.merge(Config(retries={"mode": "standard", "max_attempts": max_attempts}))
        with _BASE_LOCK:
            made = base_session().create_client(service, region_name=region, config=config, **(self.credentials or {}))
        made.meta.events.register("before-call", self._count)
        with self._lock:
            return self._clients.setdefault(key, made)


@dataclass(frozen=True)
class AccountError:
    """An account that could not be reached: its role could not be assumed, or its identity not read."""

    label: str
    error: ApiError


_ACCOUNTS: OrderedDict[str, Account] = OrderedDict()
_KEEP = 256  # accounts kept (TRAIL_AUDIT_ACCOUNT_CACHE): their credentials and clients, least recently used out
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


def forget(account: Account) -> None:
    """Let an account's clients go (a batch has gathered it); its credentials stay for the next use."""
    with _BASE_LOCK:
        account._clients.clear()


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
