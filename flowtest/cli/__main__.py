"""``python -m flowtest.cli``."""

import sys

from flowtest.cli import main

sys.exit(main())
