"""Address headers parse back as exactly one address, the right one, whatever the names hold; Date is
the moment of hand-over.

Every header is read back with ``email.policy.default`` from the bytes the outbox writes (which are the
bytes smtp sends).
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servers import invitation, sample_config
from tierctl.plugins.email_message import (MAX_DISPLAY_NAME, EmailOptions, InvalidRecipient, address_header,
                                           build_message, message_bytes)

HOSTILE_NAMES = [
    "Acme Analytics Nederland B.V., Customer Success Department, Amsterdam office",
    "Dekker, Marieke (Head of Logistics Planning and Operations at Northwind) <attacker@evil.example>",
    'He said "hi", <x@y.example>',
    'x" <evil@evil.example>, "y',
    "=?utf-8?q?evil=40evil.example?= <a@b.example>",
    '\\"<evil@evil.example>',
    "(comment) <evil@evil.example>; group: a@b.example;",
    "a" * 200,
    ("Dekker, Marieke " * 13)[:200],
    "Zoë Ünïcödé, 東京 <evil@evil.example>",
    "Ørsted Überseeisches Ämt, Ñandú Logística Ltda., São Paulo, 北京市朝阳区 客户成功部",
    "Line\r\nBcc: evil@evil.example",
    "undisclosed-recipients:;",
    "@",
    ",,,,,",
    " ",
]


def parsed(name: str, **options) -> email.message.EmailMessage:
    values = {"survey_url": "https://form.example/{invite_id}", "reply_to": "replies@acme.example"}
    if single_line(name):  # the option refuses control characters; a contact's name may hold them
        values["from_name"] = name
    values.update(options)
    inv = invitation(1, contact_name=name)
    data = message_bytes(build_message(inv, EmailOptions.model_validate(values), None,
                                       sample_config().organization))
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def single_line(name: str) -> bool:
    return not re.search(r"[\x00-\x1f\x7f]", name)


def expected_name(name: str) -> str:
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", name).split())[:MAX_DISPLAY_NAME].strip()


def check_headers(name: str) -> None:
    msg = parsed(name)
    for header, addr in (("From", "success@acme.example"), ("To", "contact1@globex.example"),
                         ("Reply-To", "replies@acme.example")):
        assert len(msg.get_all(header)) == 1, header
        addresses = msg[header].addresses
        assert [a.addr_spec for a in addresses] == [addr], (header, name, msg[header])
        assert not msg[header].defects, (header, msg[header].defects)
        if header != "Reply-To":
            # An empty or multi-line from_name is not used: the organisation's name is.
            shown = name if header == "To" or (name and single_line(name)) else "Acme Analytics"
            # Python 3.11 shows the fold between two encoded words as a space (RFC 2047 6.2 says it is not
            # part of the name, and mail clients drop it); the name is otherwise intact.
            assert "".join(addresses[0].display_name.split()) == "".join(expected_name(shown).split())
            if expected_name(shown).isascii() and "=?" not in shown:  # a quoted string, never encoded
                assert addresses[0].display_name == expected_name(shown)
    assert msg["Bcc"] is None and msg["Cc"] is None


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_display_names_give_exactly_one_address_the_right_one(name):
    check_headers(name)


def test_the_issue_examples_fold_into_one_address_each():
    msg = parsed(HOSTILE_NAMES[0])
    assert msg["From"].addresses[0].display_name == HOSTILE_NAMES[0]
    msg = parsed(HOSTILE_NAMES[1])
    assert msg["To"].addresses[0].addr_spec == "contact1@globex.example"
    assert msg["To"].addresses[0].display_name == HOSTILE_NAMES[1]


def test_header_lines_stay_short_and_7bit():
    for name in HOSTILE_NAMES:
        head = message_bytes(build_message(invitation(1, contact_name=name), EmailOptions.model_validate(
            {"survey_url": "https://form.example/{invite_id}"}), None,
            sample_config(name=expected_name(name) or "Acme").organization)).split(b"\r\n\r\n")[0]
        head.decode("ascii")
        assert max(len(line) for line in head.split(b"\r\n")) <= 998


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=0, max_size=300))
def test_any_display_name_gives_exactly_one_address(name):
    check_headers(name)


@pytest.mark.parametrize("addr", ["a@b.example>, <evil@evil.example", "a@b.example,evil@evil.example",
                                  "\"a@b\"@c.example <evil@evil.example>", "a@b.example (x)"])
def test_an_address_that_is_more_than_one_is_refused(addr):
    with pytest.raises(InvalidRecipient):
        address_header("To", "Name", addr)


def test_a_contact_address_that_smuggles_a_second_one_fails_that_invitation(tierctl_engine):
    provider = tierctl_engine.provider("outbox", {"dir": "out", "survey_url": "https://form.example/{invite_id}"})
    results = provider.send([invitation(1, contact_email="a@b.example>,<evil@evil.example"), invitation(2)])
    assert (results[0].ok, results[0].retry) == (False, False) and results[1].ok


def test_date_is_the_moment_of_hand_over_not_the_due_time():
    due = datetime(2027, 9, 1, 9, 0, tzinfo=timezone.utc)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    msg = build_message(invitation(1, due_at=due), EmailOptions.model_validate(
        {"survey_url": "https://form.example/{invite_id}"}), None, sample_config().organization)
    after = datetime.now(timezone.utc)
    back = email.message_from_bytes(message_bytes(msg), policy=email.policy.default)
    assert before <= back["Date"].datetime <= after
    given_moment = datetime(2026, 12, 5, 6, 1, 2, 345, tzinfo=timezone.utc)
    msg = build_message(invitation(1, due_at=due), EmailOptions.model_validate(
        {"survey_url": "https://form.example/{invite_id}"}), None, sample_config().organization,
        handed_over=given_moment)
    assert msg["Date"].datetime == given_moment.replace(microsecond=0)


def test_a_deferred_invitation_sent_months_later_is_dated_when_sent(tierctl_engine):
    """The engine path: `survey send --now` in September for an outbox; the file says today."""
    provider = tierctl_engine.provider("outbox", {"dir": "out", "survey_url": "https://form.example/{invite_id}"})
    due = datetime.now(timezone.utc) - timedelta(days=90)
    provider.send([invitation(1, due_at=due)])
    msg = email.message_from_bytes((tierctl_engine.root / "out" / "inv-0001.eml").read_bytes(),
                                   policy=email.policy.default)
    assert abs(msg["Date"].datetime - datetime.now(timezone.utc)) < timedelta(minutes=1)
