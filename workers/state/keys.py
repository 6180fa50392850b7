"""Every Redis key name and time-to-live, in one place. Everything trail-audit keeps starts with `ta:`."""

from __future__ import annotations

import hashlib

DAY = 86400
WEEK = 7 * DAY

# audits
AUDIT_TTL = WEEK  # an audit's state, report and jobs
QUOTA_TTL = 120  # seconds a minute's request count is kept (the minute and the next)
SLOT_TTL_MS = 60_000  # a rate limit's next free slot (LookupEvents, Slack posts per channel)
LAST_AUDIT = "ta:last_audit"
AUDIT_TREND = "ta:audit:trend"  # list: the last audits' counts (newest first)


FUNCTION_STEPS_OPEN = "ta:function:open"  # set: Workflow Builder step executions not yet completed


def function_step(execution: str) -> str:
    """A step execution's token and what it waits for (hash)."""
    return f"ta:function:{execution}"


def function_of(subject: str) -> str:
    """The step execution waiting for an audit or a request."""
    return f"ta:function:of:{subject}"


def report_slot(due: float) -> str:
    """Set once the scheduled report of fire time `due` (epoch seconds) is queued."""
    return f"ta:report:slot:{int(due)}"


def audit_of_scope(scope: str) -> str:
    """The id of the last finished audit of a scope (its accounts and regions: `delta.scope`)."""
    return f"ta:audit:scope:{hashlib.sha256(scope.encode()).hexdigest()[:32]}"


def audit(audit_id: str) -> str:
    """An audit's plan and targets (JSON)."""
    return f"ta:audit:{audit_id}"


def audit_done(audit_id: str) -> str:
    """How many regions of an audit are gathered (a counter)."""
    return f"ta:audit:{audit_id}:done"


def audit_tick(audit_id: str) -> str:
    """Held for a second after each progress update (at most one a second)."""
    return f"ta:audit:{audit_id}:tick"


def audit_report(audit_id: str) -> str:
    """A finished audit's JSON document."""
    return f"ta:audit:{audit_id}:report"


# report buttons
FIX_TTL = WEEK


def fix(fix_id: str) -> str:
    """The finding behind a report's "Request fix" button."""
    return f"ta:fix:{fix_id}"


# requests (fixes and backouts)
REQUESTS_PENDING = "ta:requests:pending"  # set: planning or pending
REQUESTS_APPROVED = "ta:requests:approved"  # set: approved, not yet executing
REQUESTS_EXECUTING = "ta:requests:executing"  # set: executing
REQUESTS_ACTIVE = "ta:requests:active"  # set: backouts in force (active, or unknown until restored)
REENABLE_DUE = "ta:reenable:due"  # sorted set: backout request id -> deadline
REENABLE_REMIND = "ta:reenable:remind"  # sorted set: backout request id -> when to remind


def metric(name: str) -> str:
    """A worker-side counter for `GET /metrics` (hash: labels as JSON -> count)."""
    return f"ta:metrics:{name}"


CLOCK_LEASE = "ta:clock:lease"  # the clock that runs the schedule (its name), while it keeps renewing


def clock_due(path: str) -> str:
    """When a periodic work is next due (Redis's own clock, in seconds), whichever clock runs it."""
    return f"ta:clock:due:{path}"


HOME_USERS = "ta:home:users"  # sorted set: user id -> when they last opened the App Home
HOME_DIRTY = "ta:home:dirty"  # set when something the Home shows changed (an audit, an alert); cleared on redraw
WAIVERS = "ta:waivers"  # hash: finding uid -> the waiver in force (JSON)
WAIVERS_DUE = "ta:waivers:due"  # sorted set: waiver request id -> when it ends


def request(request_id: str) -> str:
    """A request's hash: `doc` (JSON), `status`, `decision`."""
    return f"ta:req:{request_id}"


def request_restoring(request_id: str) -> str:
    """Held while a backout is being restored."""
    return f"ta:req:{request_id}:restoring"


def request_requeued(request_id: str) -> str:
    """Set when a stuck approved request was queued again (once a minute at most)."""
    return f"ta:req:{request_id}:requeued"


# audit log and executed actions
LOG = "ta:log"  # stream
ACTIONS = "ta:actions"  # sorted set: executed actions (JSON) by the time they ended
ACTIONS_TTL = DAY

# alerts
ALERTS_OPEN = "ta:alerts:open"  # hash: change key -> alert id (open or acknowledged)
EVENT_SEEN_TTL = 2 * DAY


def alert(alert_id: str) -> str:
    """An alert's hash: `doc` (JSON), `status`, and who acknowledged or recovered it."""
    return f"ta:alert:{alert_id}"


def alert_group(group_id: str) -> str:
    """The alert ids rolled up into one message (a list)."""
    return f"ta:alertgroup:{group_id}"


def alerts_recent(account: str, region: str) -> str:
    """A region's alerts of the last hours (sorted set: id -> created), whatever their status."""
    return f"ta:alerts:recent:{account}:{region}"


ALERTS_RECENT_KEEP = 2 * 3600  # seconds an alert may still be matched with its late CloudTrail event


def event_seen(event_id: str) -> str:
    """Set once a CloudTrail event was alerted or explained an alert (one alert per event id)."""
    return f"ta:event:{event_id}"


# monitor
MONITOR_LAST = "ta:monitor:last"
MONITOR_CYCLE_STARTS = "ta:monitor:cycle_starts"  # list: when the last 100 cycles ran (newest first)
MONITOR_ACCOUNTS = "ta:monitor:accounts"  # hash: account -> its newest cycle's summary
MONITOR_LEFT = "ta:monitor:left"  # hash: account -> when it left the organization, and what no longer covers it
MONITOR_COVERAGE = "ta:monitor:coverage"  # JSON: how many accounts the newest cycle set out to watch, and when


def monitor_lock(account: str) -> str:
    """Held while a cycle of an account runs."""
    return f"ta:monitor:lock:{account}"


def monitor_regions(account: str, requested: str) -> str:
    """An account's enabled regions (JSON), for the monitor's hour; per requested list ("" for all)."""
    return f"ta:monitor:regions:{account}:{requested}"


def monitor_pending(role: str) -> str:
    """Set while an account's watch job waits to run (a cycle does not queue a second)."""
    return f"ta:monitor:pending:{role}"


def monitor_blind(who: str) -> str:
    """Set while part of an account cannot be watched (its message was sent)."""
    return f"ta:monitor:blind:{who}"


def region_state(account: str, region: str) -> str:
    """A region's last known watched state (JSON)."""
    return f"ta:state:{account}:{region}"


def rate(key: str) -> str:
    """The next free slot of a shared rate limit."""
    return f"ta:rate:{key}"


# outbox
OUTBOX_DUE = "ta:outbox:due"  # sorted set: message id -> when to try (again)
OUTBOX_DEAD = "ta:outbox:dead"  # sorted set: message id -> when it was given up
MESSAGE_TTL = 30 * DAY


def message(message_id: str) -> str:
    """An outbox message's hash: channel, body, thread parent, version, ts once posted, attempts."""
    return f"ta:msg:{message_id}"


def message_lock(message_id: str) -> str:
    """Held while one worker delivers a message."""
    return f"ta:msg:{message_id}:lock"


# access (the web process's checks of who may do what)
PROFILE_TTL = 600  # seconds a user's users.info answer (guest or not, which workspace) is trusted


def profile(user: str) -> str:
    """A Slack user's profile as access control needs it (JSON), cached from users.info."""
    return f"ta:user:{user}"


def group_members(group: str) -> str:
    """The members of a Slack user group (JSON list), cached from usergroups.users.list."""
    return f"ta:usergroup:{group}"


def quota(kind: str, who: str, minute: int) -> str:
    """How many requests of a kind one user or channel made in one minute."""
    return f"ta:quota:{kind}:{who}:{minute}"


# pushed CloudTrail events (EventBridge -> SQS)
def event_burst(account: str, region: str) -> str:
    """The alert group that pushed alerts of an account and region join while a burst lasts."""
    return f"ta:events:burst:{account}:{region}"


# Slack installations (OAuth: one per workspace, or one for a whole Enterprise Grid organization)
INSTALLATIONS = "ta:install:all"  # set: the key of every installation
ORIGIN_TTL = 30 * DAY  # how long a channel or a user is remembered as being of an installation


def installation(owner: str) -> str:
    """One installation (JSON): `owner` is `team:<T id>` for a workspace, `org:<E id>` for an organization."""
    return f"ta:install:{owner}"


def installation_of(kind: str, slack_id: str) -> str:
    """The owner of the installation a channel or a user (`kind`) was last seen through."""
    return f"ta:install:{kind}:{slack_id}"


def oauth_state(state: str) -> str:
    """An OAuth install's state, issued at /slack/install and consumed once at /slack/oauth_redirect."""
    return f"ta:oauth:state:{hashlib.sha256(state.encode()).hexdigest()}"
