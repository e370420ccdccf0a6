"""Small helpers every other part uses: atomic file writes, "did you mean" suggestions,
rate limiting (token buckets and the ``RateLimit`` a provider declares) and the real clock
providers wait on.

May import: the public kernel (``tierctl.errors``, ``tierctl.records``) and the standard library.
"""
