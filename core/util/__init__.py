"""Small helpers every other part uses: atomic file writes, "did you mean" suggestions,
and rate limiting (token buckets and the ``RateLimit`` a provider declares).

May import: the public kernel (``tierctl.errors``, ``tierctl.records``) and the standard library.
"""
