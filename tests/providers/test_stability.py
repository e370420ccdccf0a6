"""The deprecation paths of the public API: renamed options, deprecated hooks, and the typed
invitation of ``response_received`` that old plugins still read as a dict."""

from __future__ import annotations

import json
import warnings

import pluggy
import pytest
from pydantic import Field, ValidationError

from tierctl.hookspecs import deprecated_hook, hookimpl, hookspec
from tierctl.providers import OptionRenamedWarning, ProviderOptions
from tierctl.records import AnsweredInvitation


class Options(ProviderOptions):
    renamed_options = {"retries": "max_retries"}
    max_retries: int = Field(3, ge=0)


def test_a_renamed_option_still_works_with_a_warning_naming_the_new_one() -> None:
    with pytest.warns(OptionRenamedWarning, match=r"option 'retries' is renamed 'max_retries'; write max_retries: 1"):
        assert Options.model_validate({"retries": 1}).max_retries == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Options.model_validate({"max_retries": 2}).max_retries == 2  # the new name: no warning


def test_the_old_and_the_new_name_together_are_an_error() -> None:
    with pytest.raises(ValidationError, match="'retries' is the old name of 'max_retries'; give only"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Options.model_validate({"retries": 1, "max_retries": 2})


def test_implementing_a_deprecated_hook_warns_through_pluggy() -> None:
    class Specs:
        @hookspec(warn_on_impl=deprecated_hook("0.2", "use register_providers"))
        def register_old_things(self, register):
            """A hook on its way out."""

    class Plugin:
        @hookimpl
        def register_old_things(self, register):
            register("x", object)

    pm = pluggy.PluginManager("tierctl")
    pm.add_hookspecs(Specs)
    with pytest.warns(DeprecationWarning, match="deprecated since tierctl 0.2 .* use register_providers"):
        pm.register(Plugin())


def test_the_answered_invitation_is_typed_and_still_the_old_dict() -> None:
    invitation = AnsweredInvitation("inv-1", "nps", "advanced", "acc-7", "ana@globex.example", "2026-Q4",
                                    "2026-10-01")
    assert invitation.tier == "advanced" and invitation.occasion == "2026-Q4"
    assert invitation["invite_id"] == "inv-1" and invitation.get("account_id") == "acc-7"
    assert dict(invitation) == {"invite_id": "inv-1", "survey_id": "nps", "tier": "advanced", "account_id": "acc-7",
                                "contact_email": "ana@globex.example", "occasion": "2026-Q4",
                                "due_day": "2026-10-01"}
    assert json.loads(json.dumps(invitation))["due_day"] == "2026-10-01"
    assert set(invitation) == set(AnsweredInvitation.FIELDS)
