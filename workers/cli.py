"""`trail-audit`: the audit and the change log in a terminal, with no Redis and no Slack.

Exit status: 0 all PASS or SKIPPED, 1 any FAIL, 3 any ERROR and no FAIL, 2 usage error.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from typing import IO, Any, NoReturn

from pydantic import ValidationError

from workers.audit import delta, table
from workers.audit.engine import AuditResult, Progress, run_audit
from workers.core.settings import Settings
from workers.resources.findings import WAIVABLE, exit_status

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not a usage dump, and exit status 2."""
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _regions(text: str) -> list[str]:
    from workers.aws.regions import invalid_region_names

    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no region given")
    bad = invalid_region_names(names)
    if bad:
        raise argparse.ArgumentTypeError(f"not a region name: {', '.join(bad)} (expected e.g. us-east-1)")
    return names


def _hours(text: str) -> int:
    try:
        hours = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of hours: {text!r}") from None
    if not 1 <= hours <= 24 * 90:
        raise argparse.ArgumentTypeError("hours must be from 1 to 2160 (LookupEvents covers 90 days)")
    return hours


def _previous(path: str) -> dict[str, Any]:
    """A previous `audit --format json` output, read for `--since`."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{path} is not JSON (expected a previous --format json output)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        raise argparse.ArgumentTypeError(f"{path} has no findings (expected a previous --format json output)")
    return doc


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = _Parser(prog="trail-audit", description="Keep AWS CloudTrail's own configuration under watch.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    audit = sub.add_parser("audit", help="check every enabled region of every configured account")
    audit.add_argument("--regions", type=_regions, help="comma-separated regions (default: the enabled ones)")
    audit.add_argument("--format", choices=("table", "json", "ocsf"), default="table",
                       help="ocsf: a JSON array of OCSF Compliance Findings (class 2003)")  # fmt: skip
    audit.add_argument("--export", choices=("securityhub",), help="also import the findings into AWS Security Hub")
    audit.add_argument("--events-hours", type=_hours, help="hours of change events to include (default 24)")
    audit.add_argument("--no-events", action="store_true", help="skip the LookupEvents section")
    audit.add_argument("--summary", action="store_true", help="one line per account that is not clean")
    audit.add_argument("--since", type=_previous, metavar="PATH",
                       help="compare with a previous --format json output (default: with REDIS_URL set, the last "
                            "Slack audit of the same accounts and regions)")  # fmt: skip
    ev = sub.add_parser("events", help="recent changes to CloudTrail and AWS Config (LookupEvents)")
    ev.add_argument("--hours", type=_hours, default=None, help="how far back to look (default 24)")
    ev.add_argument("--regions", type=_regions)
    ev.add_argument("--format", choices=("table", "json"), default="table")
    return p


def main(argv: list[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(x) for x in first["loc"]) or "settings"
        err.write(f"trail-audit: error: setting {name}: {first['msg']}\n")
        return USAGE_ERROR
    if args.command == "events":
        return _events(settings, args, out, err)
    return _audit(settings, args, out, err)


def _progress(err: IO[str]) -> Progress | None:
    if not err.isatty():
        return None

    def show(done: int, total: int) -> None:
        err.write(table.progress_bar(done, total))
        if done == total:
            err.write("\r\033[K")
        err.flush()

    return show


def _audit(settings: Settings, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    hours = None if args.no_events else (args.events_hours or settings.events_hours)
    if args.format == "ocsf":
        hours = None  # OCSF carries the findings only
    result = run_audit(settings, regions=args.regions, on_progress=_progress(err), events_hours=hours)
    waived = _waivers(settings, err)
    doc = result.to_dict()
    if waived:
        from workers.resources.findings import annotate

        annotate(doc["findings"], waived)
    status = exit_status(result.findings, [f.uid for f, d in zip(result.findings, doc["findings"], strict=True)
                                           if d.get("waived")])  # fmt: skip
    previous = args.since if args.since is not None else _last_of_scope(settings, doc, err)
    doc["delta"] = delta.compare(previous, doc)
    if args.format == "json":
        json.dump(doc, out, indent=2, default=str)
        out.write("\n")
    elif args.format == "ocsf":
        json.dump(_ocsf(result, waived), out, indent=2, default=str)
        out.write("\n")
    elif args.summary:
        out.write(table.summary(result, colour=table.use_colour(out)))
    else:
        out.write(table.render(result, colour=table.use_colour(out)))
    if args.format == "table":
        out.write(table.changes(doc["delta"]))
        for f in doc["findings"]:
            if f.get("waived"):
                w = f["waived"]
                out.write(f"WAIVED (not counted) {f['check']} {f['resource']}: by {w['by']}, approved by "
                          f"{w['approved_by']}, until {w['until']}: {w['reason']}\n")  # fmt: skip
    if args.export == "securityhub":
        status = _export(settings, result, status, err, waived)
    return status


def _last_of_scope(settings: Settings, doc: dict[str, Any], err: IO[str]) -> dict[str, Any] | None:
    """The last Slack audit of the same accounts and regions, when REDIS_URL is set and Redis answers."""
    if not os.environ.get("REDIS_URL"):
        return None
    from redis.exceptions import RedisError

    from workers.state import audits
    from workers.state.connection import connection

    try:
        return audits.last_of_scope(connection(settings), delta.scope(doc["summary"]["accounts"],
                                                                       doc["summary"]["regions"]))  # fmt: skip
    except (RedisError, ValueError) as exc:
        err.write(f"trail-audit: the last audit not read (Redis: {type(exc).__name__}): no delta\n")
        return None


def _waivers(settings: Settings, err: IO[str]) -> dict[str, dict[str, Any]]:
    """The waivers in force, from the bot's Redis when REDIS_URL is set (the CLI needs no Redis otherwise)."""
    if not os.environ.get("REDIS_URL"):
        return {}
    from redis.exceptions import RedisError

    from workers.state.connection import connection
    from workers.state.waivers import in_force

    try:
        return in_force(connection(settings))
    except (RedisError, ValueError) as exc:  # unreachable, or a REDIS_URL that is not a Redis URL
        err.write(f"trail-audit: waivers not read (Redis: {type(exc).__name__}): every finding counts\n")
        return {}


def _ocsf(result: AuditResult, waived: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    from importlib.metadata import version

    from workers.export.ocsf import to_ocsf

    when = int(time.time() * 1000)
    return [to_ocsf(f, when, version("trail-audit"), waived.get(f.uid) if f.status in WAIVABLE else None)
            for f in result.findings]  # fmt: skip


def _export(
    settings: Settings, result: AuditResult, status: int, err: IO[str], waived: dict[str, dict[str, Any]]
) -> int:
    """Import into Security Hub; a failure is said on stderr and, with nothing failing, makes the status 3."""
    from workers.export import securityhub

    done = securityhub.export(settings, result.findings, waived)
    err.write(f"trail-audit: Security Hub: {sum(done.imported.values())} findings imported into "
              f"{len(done.imported)} accounts\n")  # fmt: skip
    for failure in done.failed:
        err.write(f"trail-audit: Security Hub: {failure}\n")
    return status if done.ok or status == 1 else 3


def _events(settings: Settings, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    hours = args.hours or settings.events_hours
    result = run_audit(settings, regions=args.regions, on_progress=_progress(err), events_hours=hours, checks=False)
    report = result.events
    assert report is not None
    if args.format == "json":
        json.dump({"events": report.to_dict()}, out, indent=2, default=str)
        out.write("\n")
    else:
        out.write(table.lines(table.render_events(report, colour=table.use_colour(out))))
    return 3 if report.errors else 0


def run() -> None:
    """The `trail-audit` command: `main`, then a quick exit.

    Everything the command says is written and flushed by then, and it holds nothing else to save; tearing
    down an interpreter full of service models and idle connections took 0.4 s, a third of an all-region
    audit, so the process leaves without it (docs/BENCHMARKS.md).
    """
    gc.freeze()  # what the imports made stays: the collector need not walk it again and again
    gc.set_threshold(50_000, 20, 20)  # a short run allocating much (service models, parsed answers), little garbage
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    run()
