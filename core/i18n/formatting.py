"""Dates, times, numbers and percentages in the current language, from CLDR (Babel).

``31 maart 2027``, ``62,5%``, ``dinsdag 2 maart 2027``: each function takes the
language from :func:`tierctl.i18n.current_language` unless given one. Babel is
imported inside the functions: these run when text is produced, not at start-up.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from tierctl.i18n.translate import current_language


def babel_locale(language: str | None = None) -> str:
    """``nl-BE`` -> ``nl_BE`` for Babel; an unknown code falls back to its base, then English."""
    from babel import Locale, UnknownLocaleError

    code = (language or current_language()).replace("-", "_")
    for candidate in (code, code.split("_")[0], "en"):
        try:
            Locale.parse(candidate)
            return candidate
        except (UnknownLocaleError, ValueError):
            continue
    return "en"


def format_date(value: date | datetime, width: str = "long", language: str | None = None) -> str:
    """``31 maart 2027`` (``long``), ``woensdag 31 maart 2027`` (``full``), ``31-03-2027`` (``short``)."""
    from babel.dates import format_date as babel_format_date

    day = value.date() if isinstance(value, datetime) else value
    return babel_format_date(day, format=width, locale=babel_locale(language))


def format_time(value: datetime | time, language: str | None = None) -> str:
    """``14:30`` in nl and de, ``2:30 PM`` in en (the clock time as given, no zone conversion)."""
    from babel.dates import format_time as babel_format_time

    clock = value.timetz() if isinstance(value, datetime) else value
    return babel_format_time(clock.replace(tzinfo=None), format="short", locale=babel_locale(language))


def format_number(value: float | int, language: str | None = None, digits: int = 2) -> str:
    """``1.234,5`` in nl, ``1,234.5`` in en; at most ``digits`` decimals, none when whole."""
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=babel_locale(language))


def format_percent(value: float | None, language: str | None = None, digits: int = 1) -> str:
    """``62,5%`` (nl), ``62,5 %`` (de), ``62.5%`` (en) for 62.5, a value already in percent; '' for None.
    The language's own pattern (where the sign goes, spacing) with up to ``digits`` decimals."""
    import re

    from babel import Locale
    from babel.numbers import format_percent as babel_format_percent

    if value is None:
        return ""
    locale = babel_locale(language)
    pattern = Locale.parse(locale).percent_formats[None].pattern.split(";")[0]
    if digits:
        pattern = re.sub(r"0(?=[^0]*$)", "0." + "#" * digits, pattern, count=1)
    return babel_format_percent(value / 100, format=pattern, locale=locale)


def format_period(label: Any, language: str | None = None) -> str:
    """A period key in words: ``2027-Q1`` -> ``Q1 2027`` (nl ``K1 2027``), ``2027-H2`` -> ``H2 2027``
    (nl ``2e helft 2027``, de ``2. Halbjahr 2027``), ``2027-03`` -> ``March 2027`` (nl ``maart 2027``);
    a year, or anything else, as given. The words come from the catalogs, the month names from CLDR."""
    import re

    from tierctl.i18n.translate import gettext, use_language

    text = str(label)
    m = re.match(r"^(\d{4})-(Q|H)(\d)$", text)
    if m:
        year, kind, n = m.groups()
        with use_language(language or current_language()):
            form = gettext("Q%(n)s %(year)s") if kind == "Q" else gettext("H%(n)s %(year)s")
        return form % {"n": n, "year": year}
    m = re.match(r"^(\d{4})-(\d{2})$", text)
    if m and 1 <= int(m.group(2)) <= 12:
        from babel.dates import format_skeleton

        return format_skeleton("yMMMM", date(int(m.group(1)), int(m.group(2)), 1), locale=babel_locale(language))
    return text


def day_names(language: str | None = None) -> list[str]:
    """Monday..Sunday, wide, in the language (``maandag`` ... ``zondag``)."""
    from babel.dates import get_day_names

    names = get_day_names("wide", locale=babel_locale(language))
    return [names[i] for i in range(7)]


def language_name(code: str, language: str | None = None) -> str:
    """``Nederlands`` for nl in its own language (the switcher's label), or in ``language``."""
    from babel import Locale

    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(babel_locale(language or code)) or code
    except Exception:
        return code
    return name[:1].upper() + name[1:]


def format_list(items: list[Any], language: str | None = None) -> str:
    """``a, b en c`` in nl, ``a, b and c`` in en."""
    from babel.lists import format_list as babel_format_list

    return babel_format_list([str(i) for i in items], locale=babel_locale(language)) if items else ""
