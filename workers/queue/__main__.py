"""`python -m workers.queue worker|clock`: see `workers.queue.run`."""

import sys

from workers.queue.run import main

sys.exit(main())
