"""Three `survey send` runners on one PostgreSQL ledger against the SurveyMonkey double at its limit.

Each runner alone would keep the limit (its own token bucket); three of them
would call three times as fast. On a PostgreSQL ledger they draw from one
bucket kept in the database, so together they stay within it: 0 x 429.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from doubles.surveymonkey import SurveyMonkeyDouble
from test_provider_surveymonkey import write_project

TOKEN_ENV = {"SM_TOKEN": "sm-test-token-Xq7c2LmN9vB4kR8w"}


@pytest.mark.slow
def test_three_runners_share_one_rate_limit_and_get_no_429(tmp_path, tierctl_postgres_url):
    # The double allows 10 requests a (1-second) "minute". 300 a minute is 5 a second with a burst
    # of 5: at most 10 in any window of the double's, i.e. at its limit, whoever sends them.
    with SurveyMonkeyDouble(minute_limit=10, minute_seconds=1.0, day_limit=100_000, token=TOKEN_ENV["SM_TOKEN"]) as sm:
        sm.add_survey("406", {"813001": "Would you recommend us?"})
        config = write_project(tmp_path, sm, 36, batch_size=2, requests_per_minute=300)
        config.write_text(config.read_text() + f'storage: {{url: "{tierctl_postgres_url}"}}\n')
        env = {**os.environ, **TOKEN_ENV}
        runners = [subprocess.Popen([sys.executable, "-m", "tierctl", "-c", str(config), "survey", "send", "--now",
                                     "2027-01-04T09:00:00Z"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=env) for _ in range(3)]
        outcomes = [r.communicate(timeout=170) for r in runners]
        assert [r.returncode for r in runners] == [0, 0, 0], [err for _, err in outcomes]
        assert sm.rate_limited == 0
        assert sm.max_requests_in(0.99) <= 10
        assert sm.delivered() == {("406", f"p{i}@acc{i // 4}.example"): 1 for i in range(36)}
