"""Block Kit messages, built by pure functions from plain data: no Bolt, no network, tested directly.

One module per message family: `report`, `rollup`, `prompt`, `alert`, `status`, `home` and `answers`;
`kit` holds Block Kit's pieces and Slack's limits.
"""
