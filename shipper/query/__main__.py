"""``python -m shipper.query`` runs ``jarvis-logs``."""

import sys

from shipper.query.cli import main

sys.exit(main())
