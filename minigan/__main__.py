"""``python -m minigan`` is the ``minigan`` console script."""

import sys

from minigan.cli import main

sys.exit(main())
