"""``python -m shipper``: the same as ``jarvis-shipper``."""

import sys

from shipper.cli import main

sys.exit(main())
