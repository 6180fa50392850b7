"""moto's server, with its set-up kept out of Python's garbage collector on request.

A moto server holding 1,000 accounts x 17 regions has about 2 GiB of Python objects, and each full collection
walks all of them: its CPU per call grows with the number of accounts (measured: 5.5 ms at 200 accounts,
7.8 ms at 1,000), which AWS's does not. `SIGUSR1` moves every object alive then into the permanent generation
(`gc.freeze()`), so that collections walk only what later calls allocate. The bench sends it once the accounts
are set up.

Run: `python -m bench.moto_frozen -H 127.0.0.1 -p PORT` (moto.server's own arguments).
"""

from __future__ import annotations

import gc
import signal
import sys
from types import FrameType

from moto.server import main


def _freeze(signum: int, frame: FrameType | None) -> None:
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, _freeze)
    main(sys.argv[1:])
