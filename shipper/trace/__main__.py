"""``python -m shipper.trace`` runs ``jarvis-logs``."""

import sys

from shipper.trace.cli import main

sys.exit(main())
