"""The Headless Flow Execution API's facts, in one place: paths, statuses, transfer results.

The client, the runner, the validator, the sandbox and the reports read them from here.
"""

from __future__ import annotations

API_BASE = "/cgw/process/v1"
API_ROOT = API_BASE + "/orgs"  # then /{orgId}/flows/{flowId}/sessions...

AWAITING_INPUT = "awaiting_input"
AWAITING_TRANSFER = "awaiting_transfer"
COMPLETED = "completed"
TERMINATED = "terminated"
EXPIRED = "expired"
ERROR = "error"
STATUSES = (AWAITING_INPUT, AWAITING_TRANSFER, COMPLETED, TERMINATED, EXPIRED, ERROR)
TERMINAL_STATUSES = frozenset({COMPLETED, TERMINATED, EXPIRED, ERROR})

TRANSFER_RESULTS = ("success", "failed", "hangup")

# The fields of a Start Session / Send Message answer (TurnResult); a check of others
# reads a message.
TURN_FIELDS = frozenset({"sessionId", "status", "messages", "transfer", "expiresAt"})

# Start Session's metadata field for the caller's own id of the session: flowtest sets it,
# so that a session whose answer was lost can still be found.
EXTERNAL_ID = "externalSessionId"
