"""Sending surveys: who is due when (the scheduler; the plan's items and counts in
``plan_records``), the send run that claims
invitations in the ledger and hands them to providers, and the provider and source
instances built from the config. A big plan is printed in two parts on two cores
(``plan_parts``: a forked worker decides the second half of the contacts; ``plan_lines``
writes the lines; ``meeting_reader`` reads a big calendar meanwhile).

May import: ``tierctl.storage``, ``tierctl.config``, ``tierctl.host``, ``tierctl.util``
and the public API (``providers``, ``sources``, ``records``, ``errors``).
"""
