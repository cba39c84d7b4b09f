"""``python -m loyalty.cli`` runs the ``loyalty`` command."""

import sys

from . import main

sys.exit(main())
