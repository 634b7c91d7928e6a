"""Past one machine: a folder of clips, or one long video cut into segments, on a Ray cluster.

Ray is an optional extra (``pip install "aprvfi[ray]"``). Only :mod:`.connect` imports it, so
everything here that does not talk to a cluster (planning, segment rendering, joining) works
and is testable without it. Inputs and outputs must sit on storage every worker sees (a shared
filesystem path): workers read the sources and write the segments themselves.
"""

from __future__ import annotations

from aprvfi_cli.errors import AprvfiError

RAY_INSTALL = 'pip install "aprvfi[ray]"'


class ClusterError(AprvfiError):
    """The cluster cannot be reached or lost the work (exit code 1)."""
