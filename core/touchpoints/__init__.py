"""Contact moments: the automated messages a tier's ``contact_cadence`` promises, and the manual ones people owe.

``occasions`` works out which occasion of a cadence is open (from the
account's ``status_since``, else a stable spread); ``planner`` decides per
contact what is due, deferred (quiet hours, the fatigue cap) or skipped
(no consent, no phone); ``texts`` renders a message for one contact;
``send_run`` sends through the survey engine's claim/send machinery (same
ledger, lock and guarantees); ``due`` lists the manual moments per owner,
as a table, JSON or an iCalendar to-do feed.

May import: surveys, storage, the public API, config, host, util and the kernel.
"""
