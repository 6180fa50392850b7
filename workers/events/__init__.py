"""CloudTrail calls pushed by EventBridge through SQS: read (`pushed`), recorded as alerts (`record`), consumed
by the `events` process (`consumer`)."""
