"""``python -m pyhik``: the same as the ``pyhik`` command."""

import sys

from pyhik.cli.main import main

sys.exit(main())
