"""Every Redis key trail-audit writes (`keys`) and every status change of requests and alerts (`machine`).

Nothing else in the code names a key or writes a status: a transition is one atomic compare-and-set
against an explicit table, committed together with whatever it causes (outbox messages, deadlines, log).
"""
