"""``python -m lacbed_bridge`` = the ``lacbed-bridge`` command."""

import sys

from .cli import main

sys.exit(main())
