"""`make demo`: the audit, offline, on an embedded fake AWS account with a realistic mix of problems.

It starts a moto server on a free port, seeds the account through boto3 (a stopped trail, a read-only
trail, a trail whose bucket was deleted, a CIS filter that misses StopLogging, Config recorders that are
stopped, narrowed or missing), and runs `trail-audit audit` against it exactly as against AWS: through
AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import os
import sys

from demo.fake_account import demo_account
from demo.servers import aws_env, moto_server
from workers import cli

REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-east-1"]


def main() -> int:
    """Run the demo; returns the audit's exit status."""
    print("trail-audit demo: a fake AWS account (moto server), audited as a real one would be.\n", flush=True)
    with moto_server() as moto:
        os.environ.update(aws_env(moto.url))
        demo_account(REGIONS[:4])
        print(f"  fake AWS at {moto.url}, account 123456789012, regions {', '.join(REGIONS)}")
        print("  (ap-east-1 is an opt-in region this account has not enabled: it is SKIPPED)\n")
        print(f"$ trail-audit audit --regions {','.join(REGIONS)} --no-events\n", flush=True)
        status = cli.main(["audit", "--regions", ",".join(REGIONS), "--no-events"])
        print(f"\nexit status {status}: 0 all pass, 1 a FAIL, 3 an ERROR without FAIL, 2 a usage error.")
        print("Try `trail-audit audit --format json` for the machine-readable report.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
