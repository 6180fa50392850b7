"""Old dotted paths of the approval-flow jobs (`workers.remediate.*`), kept so queued jobs still run."""

from workers.remediation.jobs import (
    execute,
    execution_failed,
    prepare,
    prepare_failed,
    recheck_request,
    reenable,
    sweep_due,
)

__all__ = ["execute", "execution_failed", "prepare", "prepare_failed", "recheck_request", "reenable", "sweep_due"]
