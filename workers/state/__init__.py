"""Every Redis key trail-audit writes (`keys`), every status change of requests and alerts (`machine`), and
the workers' counters for `GET /metrics` (`metrics`).

Nothing else in the code names a key or writes a status: a transition is one atomic compare-and-set
against an explicit table, committed together with whatever it causes (outbox messages, deadlines, log).
"""
