"""What the tests share besides fixtures: the repository's root; fault injection (`faults`), real-shaped
CloudTrail records (`cloudtrail_records`) and waiting for a condition (`waiting`)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
