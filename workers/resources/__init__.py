"""One module per watched kind of resource: what is read, judged, watched and fixed for it.

`trail`, `selectors` (a trail's event selectors), `bucket` (its S3 log bucket), `key` (its KMS key), `recorder`,
`channel`, `alarm` (the CIS alarm chain) and `chain` (that chain, watched) each
register their checks (`verdicts.check`), actions (`actions.remediation`) and watched fields (`watched.watch`)
when imported; importing this package imports them all, so the registries are complete wherever they are read.
Adding a watched resource is adding one module here and naming it below.
"""

from workers.resources import alarm, bucket, chain, channel, key, recorder, selectors, trail

__all__ = ["alarm", "bucket", "chain", "channel", "key", "recorder", "selectors", "trail"]
