"""``python -m pyhik``: the same as the ``pyhik`` command."""

import sys

from .cli import main

sys.exit(main())
