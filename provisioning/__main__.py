"""`python -m provisioning`: the operator CLI (see provisioning/cli/).

The worker keeps its own entry point (`python -m provisioning.worker`); this one never
starts the reconciler.
"""

from __future__ import annotations

import sys

from provisioning.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
