"""The one way provider tests build providers: the kit's :class:`tierctl.testing.Engine`, as third
parties build theirs (a real config file, the plugin's Options model, ``build_providers``)."""

from __future__ import annotations

import pytest

from tierctl.testing import Engine, RealClock


@pytest.fixture
def engine(tmp_path):
    """An engine in ``tmp_path`` (its config file and ledger there, relative option paths too) whose
    providers wait on the real clock: the platform doubles here hold them to their rates in real time."""
    with Engine(tmp_path, clock=RealClock()) as built:
        yield built
