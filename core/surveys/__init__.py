"""Sending surveys: who is due when (the scheduler), the send run that claims
invitations in the ledger and hands them to providers, and the provider and source
instances built from the config.

May import: ``tierctl.storage``, ``tierctl.config``, ``tierctl.host``, ``tierctl.util``
and the public API (``providers``, ``sources``, ``records``, ``errors``).
"""
