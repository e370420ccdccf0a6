"""Responses: checking answers and linking them to invitations (``store``), the CSV
import, collecting from providers, and the figures (NPS, CSAT, CES, rates) built from them.

May import: ``tierctl.surveys``, ``tierctl.storage``, ``tierctl.config``, ``tierctl.host``,
``tierctl.util`` and the public API.
"""
