"""Old dotted paths of the audit jobs (`workers.jobs.*`), kept so jobs queued before the move still run."""

from workers.audit.jobs import audit_regions, finish_audit, start_audit

__all__ = ["audit_regions", "finish_audit", "start_audit"]
