"""What changed since the previous audit of the same scope: each finding new, resolved, still failing (since
when) or unchanged. A pure function of two report documents (the JSON of `trail-audit audit --format json` or
of a Slack audit's report), used by the Slack report, the CLI, the Home and `/metrics`.

A finding is failing when its status is FAIL or ERROR (ERROR is never silently good), and is identified by its
`uid` (check and subject, stable across audits). A waived finding is counted as waived, never as new.
"""

from __future__ import annotations

from typing import Any

from workers.resources.findings import uid_of

FAILING = ("FAIL", "ERROR")
KINDS = ("new", "resolved", "still_failing", "waived", "unchanged")


def scope(accounts: list[str], regions: list[str]) -> str:
    """The scope two audits must share to be compared: the accounts and the regions, sorted."""
    return f"{','.join(sorted(accounts))}|{','.join(sorted(regions))}"


def _uid(f: dict[str, Any]) -> str:
    return uid_of(f["check"], f["account"], f["region"], f["resource"])


def _failing(f: dict[str, Any] | None) -> bool:
    return f is not None and f.get("status") in FAILING


def compare(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    """The `"delta"` object of `current` against `previous` (None: the first audit of its scope). Each entry
    names the finding (uid, check, account, region, resource, status, detail); a still-failing one says since
    when (`failing_since`, carried from audit to audit, else the previous audit's start)."""
    now = current.get("summary", {}).get("started") or current.get("started") or ""
    if previous is None:
        return {"previous": None, "since": None, "changed": False, **{k: [] for k in KINDS},
                "counts": {k: 0 for k in KINDS}, "first": True}  # fmt: skip
    before = {_uid(f): f for f in previous.get("findings", [])}
    earlier = {e["uid"]: e.get("failing_since") for e in (previous.get("delta") or {}).get("still_failing", [])}
    earlier |= {e["uid"]: e.get("failing_since") for e in (previous.get("delta") or {}).get("new", [])}
    since = previous.get("summary", {}).get("started") or previous.get("started")
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    seen = set()
    for f in current.get("findings", []):
        uid = _uid(f)
        seen.add(uid)
        old = before.get(uid)
        entry = {"uid": uid, **{k: f[k] for k in ("check", "account", "region", "resource", "status", "detail")}}
        if _failing(f) and f.get("waived"):
            out["waived"].append(entry)
        elif _failing(f) and not _failing(old):
            out["new"].append(entry | {"failing_since": now, "was": old.get("status") if old else None})
        elif _failing(f):
            out["still_failing"].append(entry | {"failing_since": earlier.get(uid) or since})
        elif _failing(old):
            out["resolved"].append(entry | {"was": old["status"] if old else None})
        else:
            out["unchanged"].append(entry)
    for uid, old in before.items():
        if uid not in seen and _failing(old) and not old.get("waived"):  # gone: its subject no longer exists
            out["resolved"].append({"uid": uid, **{k: old[k] for k in ("check", "account", "region", "resource",
                                    "detail")}, "status": "GONE", "was": old["status"]})  # fmt: skip
    new_first = sorted(out["new"], key=lambda e: (e["status"] != "FAIL", e["check"], e["account"], e["region"]))
    out["new"] = new_first
    return {"previous": previous.get("id"), "since": since, "changed": bool(out["new"] or out["resolved"]),
            **out, "counts": {k: len(v) for k, v in out.items()}, "first": False}  # fmt: skip

