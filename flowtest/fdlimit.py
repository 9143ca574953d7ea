"""Fit the concurrency asked for into the process's open-file limit (``ulimit -n``).

Every conversation in flight holds a connection, a file descriptor; the embedded
sandbox holds the other end in the same process. Past the limit, connections fail
with "Too many open files" and conversations fail at random. The soft limit is
raised up to the hard one when that is enough; otherwise the run goes on with fewer
conversations at a time, and says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

try:
    import resource
except ImportError:  # pragma: no cover - Windows has no RLIMIT_NOFILE to fit into
    resource = None  # type: ignore[assignment]

# Descriptors beyond the connections: pytest's captures, the loop, logs, report files.
_MARGIN = 64


@dataclass(frozen=True)
class Fit:
    concurrency: int
    message: str | None = None  # set when the run cannot have the concurrency asked for


def fit_concurrency(wanted: int, per_conversation: int) -> Fit:
    """The concurrency this process can sustain, raising its soft open-file limit if needed."""
    if resource is None or wanted <= 1:
        return Fit(wanted)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = _open_descriptors()
    needed = in_use + _MARGIN + wanted * per_conversation
    if soft == resource.RLIM_INFINITY or needed <= soft:
        return Fit(wanted)
    raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    except (ValueError, OSError):
        pass
    if needed <= soft:
        return Fit(wanted)
    fits = max(1, (soft - in_use - _MARGIN) // per_conversation)
    message = (
        f"flowtest: {wanted} conversations at once need about {needed} open files, but this process "
        f"may open {soft} (ulimit -n); running {fits} at a time. Raise the limit (ulimit -n {needed}) "
        "to run them all at once."
    )
    return Fit(fits, message)


def _open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # no /proc (macOS): a guess that errs high
        return 64
