"""The helpdesk: keep a helpdesk (Zendesk built in) in step with the tiers, and bring its
satisfaction ratings into the reports.

``sync`` plans the service-level policies and organisation tags the tiers call for,
compares them with what the helpdesk holds and applies the difference only when the whole
plan is sound; ``csat`` imports good/bad ratings incrementally into the ledger, per tier.

May import: responses, surveys, storage, the public API (helpdesks, sources), config, host, util, errors/records.
"""
