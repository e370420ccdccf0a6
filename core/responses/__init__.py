"""Responses: checking answers and linking them to invitations (``store``), the CSV
import, collecting from providers, what texts from contacts and delivery receipts mean
(``texts``: a score by SMS, STOP), and the figures (NPS, CSAT, CES, rates) built from them.

May import: ``tierctl.surveys``, ``tierctl.storage``, ``tierctl.config``, ``tierctl.i18n``,
``tierctl.host``, ``tierctl.util`` and the public API.
"""
