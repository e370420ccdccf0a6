"""A Dutch company's config published in Dutch and English, and the English built-in text to look for."""

from __future__ import annotations

import re
import textwrap
from html.parser import HTMLParser
from pathlib import Path

CONFIG = """\
    version: 1
    organization:
      name: Noordwind Logistiek N.V.
      timezone: Europe/Amsterdam
      languages: [nl, en]
      effective_date: 2027-03-31
      support_url: https://noordwind.example/help
      contact_email: support@noordwind.example
      severities:
        urgent: {en: Production is down, nl: Productie ligt stil}
        normal: {en: A question, nl: Een vraag}
      business_hours:
        days: [mon, tue, wed, thu, fri]
        start: "08:30"
        end: "17:30"
        holidays: {en: Dutch public holidays, nl: Nederlandse feestdagen}
    labels:
      free: {en: Free, nl: Gratis}
      zakelijk: {en: Business, nl: Zakelijk}
    tiers:
      basis:
        name: {en: Basic, nl: Basis}
        summary: {en: Quick answers and self-service., nl: Snelle antwoorden en zelfservice.}
        touch_model: tech-touch
        plans: [free]
        channels: [knowledge-base, email, whatsapp, sms]
        response_targets: {urgent: 1 business day, normal: best effort}
        agent_time_cap: 30m/month
        contact_cadence:
          active: {every: 2w, channel: sms, automated: true}
        surveys: [feedback]
        languages: [nl, en]
      zakelijk:
        extends: basis
        name: {en: Business, nl: Zakelijk}
        touch_model: high-touch
        plans: [zakelijk]
        channels: [+phone, +chat]
        hours: 24x7
        response_targets: {urgent: 1h, normal: 4 business hours}
        agent_time_cap: 10h/month
        named_contacts: 5
        price: {en: From 500 euro a month, nl: Vanaf 500 euro per maand}
        includes: [{en: Quarterly account review, nl: Kwartaalgesprek}]
        contact_cadence:
          active: {every: 3mo, channel: phone, meeting: account-review}
    surveys:
      feedback:
        title: {en: Quarterly feedback, nl: Kwartaalfeedback}
        questions:
          - {id: nps, type: nps, text: {en: How likely are you to recommend us?, nl: Hoe waarschijnlijk is het dat je ons aanbeveelt?}}
    render:
      website: {format: html, out: site}
      sales: {format: markdown, out: sales}
    """


def write_config(folder: Path, text: str = CONFIG) -> Path:
    path = folder / "tierctl.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        for name, value in attrs:  # text people read that is not in the page's body text
            if name in ("aria-label", "title", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_fragments() -> list[str]:
    """The English built-in text (catalog messages Dutch translates differently), as the pieces
    between placeholders that could show on a page: two words or more, or one long word."""
    from tierctl.i18n.catalogs import read_catalog

    fragments: set[str] = set()
    for message in read_catalog("nl"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue  # the same word in both languages (Chat, WhatsApp, 24/7)
            for piece in re.split(r"%\(\w+\)s|[.,:;()`]", english):
                piece = piece.strip()
                if (len(piece.split()) >= 2 or len(piece) >= 6) and not any(piece.lower() in s.lower() for s in strings):
                    fragments.add(piece)  # (a loanword Dutch uses too, "Tech-touch", is not English text)
    return sorted(fragments)


def english_in(text: str, fragments: list[str]) -> list[str]:
    return [f for f in fragments if re.search(rf"(?<!\w){re.escape(f)}(?!\w)", text)]
