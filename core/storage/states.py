"""The states of an invitation in the ledger (see :mod:`tierctl.storage.ledger`), and the groups
of them the engine and the backends ask about."""

DEFERRED = "deferred"
SENDING = "sending"
SENT = "sent"
RETRY = "retry"
FAILED = "failed"
UNKNOWN = "unknown"
STATES = (DEFERRED, SENDING, SENT, RETRY, FAILED, UNKNOWN)

#: States a claim may take over (the invitation was never handed out, or failed temporarily).
CLAIMABLE_STATES = (DEFERRED, RETRY)
#: States that count against the per-contact throttle (the contact was, or may have been, surveyed).
SURVEYED_STATES = (SENT, SENDING, UNKNOWN)
#: States whose invitations did not (or may not have) reached the person: left out of response rates.
NOT_DELIVERED_STATES = (FAILED, RETRY, DEFERRED, UNKNOWN, SENDING)
