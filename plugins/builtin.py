"""Registration of tierctl's survey-run plugins: sources and providers.

Each entry below is one plugin in the ``tierctl`` entry-point group, exactly
as a third party's would be (``csv = "tierctl.plugins.builtin:csv"``). They
register import paths rather than classes, so loading them, which every
start-up does, imports nothing heavy: pydantic, requests and icalendar are
imported only when a command uses that source or provider.
"""

from __future__ import annotations

from tierctl.hookspecs import hookimpl


class csv:
    """Contacts from a CSV file."""

    @staticmethod
    @hookimpl
    def register_sources(register):
        register("csv", "tierctl.plugins.source_csv:CsvCustomers")


class ical:
    """Meetings from an iCalendar (.ics) file."""

    @staticmethod
    @hookimpl
    def register_sources(register):
        register("ical", "tierctl.plugins.source_ical:IcalMeetings")


class outbox:
    """Invitations written as .eml files into a folder."""

    @staticmethod
    @hookimpl
    def register_providers(register):
        register("outbox", "tierctl.plugins.provider_outbox:OutboxProvider")


class smtp:
    """Invitations e-mailed through an SMTP server."""

    @staticmethod
    @hookimpl
    def register_providers(register):
        register("smtp", "tierctl.plugins.provider_smtp:SmtpProvider")


class webhook:
    """Invitations POSTed as signed JSON to a URL."""

    @staticmethod
    @hookimpl
    def register_providers(register):
        register("webhook", "tierctl.plugins.provider_webhook:WebhookProvider")


class surveymonkey:
    """SurveyMonkey: e-mail collectors, bulk recipients, responses/bulk."""

    @staticmethod
    @hookimpl
    def register_providers(register):
        register("surveymonkey", "tierctl.plugins.provider_surveymonkey:SurveyMonkeyProvider")


class typeform:
    """Typeform: link-only forms mailed through another provider; Responses API."""

    @staticmethod
    @hookimpl
    def register_providers(register):
        register("typeform", "tierctl.plugins.provider_typeform:TypeformProvider")


class qualtrics:
    """Qualtrics: mailing list + distribution; asynchronous response export."""

    @staticmethod
    @hookimpl
    def register_providers(register):
        register("qualtrics", "tierctl.plugins.provider_qualtrics:QualtricsProvider")


class zendesk:
    """Zendesk Support: SLA policies per tier, tier tags on organisations, CSAT ratings."""

    @staticmethod
    @hookimpl
    def register_helpdesks(register):
        register("zendesk", "tierctl.plugins.helpdesk_zendesk:ZendeskHelpdesk")


class twilio:
    """Twilio: SMS and WhatsApp (approved templates) through the Messaging API."""

    @staticmethod
    @hookimpl
    def register_providers(register):
        register("twilio", "tierctl.plugins.provider_twilio:TwilioProvider")


class messagebird:
    """MessageBird (Bird): SMS through the REST messages API."""

    @staticmethod
    @hookimpl
    def register_providers(register):
        register("messagebird", "tierctl.plugins.provider_messagebird:MessageBirdProvider")
