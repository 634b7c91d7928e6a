"""``python -m aprvfi_cli.cli``: the ``aprvfi`` command."""

import sys

from aprvfi_cli.cli.root import main

sys.exit(main())
