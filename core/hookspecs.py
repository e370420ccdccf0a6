"""Every hook a tierctl plugin can implement.

A plugin is a module (or object) listed in the ``tierctl`` entry-point group::

    [project.entry-points.tierctl]
    acme = "tierctl_acme"

and implements any of these hooks with :data:`hookimpl`::

    from tierctl.hookspecs import hookimpl

    @hookimpl
    def register_providers(register):
        register("acme", AcmeProvider)

The ``register_*`` hooks receive a ``register`` callback rather than returning
values. ``register(name, value)`` takes the object itself or its import path
as a string, ``"package.module:Name"``, which tierctl imports only when that
entry is used: the way to keep a plugin whose classes need heavy libraries
from slowing every start-up. Because they use a callback, so tierctl knows which plugin registered what, refuses two plugins
claiming one name (naming both), and calls each plugin on its own so that one
failing plugin does not stop the others. Plugin modules should import heavy
libraries inside functions, not at module level: they are imported whenever
tierctl starts, ``tierctl --help`` included.

Stability: every hook here, with its name and parameters, is public API.
Within a major version a hook is not removed and its parameters are not
renamed or removed (tierctl may add parameters; an implementation that does
not ask for them is called without them, as pluggy does). A hook that is to
go is first marked with :func:`deprecated_hook` for at least one minor
release: implementing it then gives a ``DeprecationWarning`` saying what to
use instead (pluggy's ``warn_on_impl``), and docs/plugins.md says so too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    from tierctl.records import AnsweredInvitation

hookspec = pluggy.HookspecMarker("tierctl")
hookimpl = pluggy.HookimplMarker("tierctl")

Register = Callable[..., None]


def deprecated_hook(since: str, instead: str) -> DeprecationWarning:
    """The warning for ``@hookspec(warn_on_impl=deprecated_hook("0.3", "use register_x"))``.

    pluggy gives it, naming the implementing plugin's function, when a
    plugin that implements the hook is registered.
    """
    return DeprecationWarning(f"this tierctl hook is deprecated since tierctl {since} and will be removed in "
                              f"the next major version; {instead}")


@hookspec
def register_renderers(register: Register) -> None:
    """Register output formats for ``tierctl render``.

    :param register: call ``register(name, renderer_class)`` once per format.
        ``renderer_class`` subclasses :class:`tierctl.render.Renderer`; ``name``
        is what a render target's ``format:`` names (``html``, ``markdown``).
    """


@hookspec
def register_providers(register: Register) -> None:
    """Register survey providers (the ``plugin:`` of an entry under ``providers:``).

    :param register: call ``register(name, provider_class)`` once per provider.
    """


@hookspec
def register_sources(register: Register) -> None:
    """Register customer or meeting sources (the ``plugin:`` of an entry under ``sources:``).

    :param register: call ``register(name, source_class)`` once per source.
    """


@hookspec
def register_template_filters(register: Register) -> None:
    """Add jinja2 filters available to every template.

    :param register: call ``register(name, function)``; the filter is then
        usable as ``{{ value | name }}``.
    """


@hookspec
def register_template_globals(register: Register) -> None:
    """Add jinja2 globals (values or functions) available to every template.

    :param register: call ``register(name, value)``.
    """


@hookspec
def register_helpdesks(register: Register) -> None:
    """Register helpdesks (the ``plugin:`` of an entry under ``helpdesks:``) that
    ``tierctl helpdesk sync`` and ``import-csat`` work with.

    :param register: call ``register(name, helpdesk_class)`` once per helpdesk.
        ``helpdesk_class`` subclasses :class:`tierctl.helpdesks.Helpdesk`.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``tierctl`` CLI.

    :param cli: the top-level :class:`click.Group`; use ``@cli.command()`` or
        ``cli.add_command(...)``. Import heavy libraries inside the command
        function so that ``tierctl --help`` stays fast.
    """


@hookspec
def response_received(response: Any, invitation: AnsweredInvitation) -> None:
    """Called once for each new response, after it is stored.

    :param response: a :class:`tierctl.records.StoredResponse`, read-only
        (answers by question id, submitted time, source, tier).
    :param invitation: the invitation it answers, a
        :class:`tierctl.records.AnsweredInvitation`: ``invite_id``,
        ``survey_id``, ``tier``, ``account_id``, ``contact_email``,
        ``occasion``, ``due_day`` as attributes (``invitation.tier``); it is
        also a read-only dict of the same keys (``invitation["tier"]``), as
        in earlier versions.

    Use it to react, e.g. alert an account manager on a detractor. Each
    plugin is called on its own; an exception is reported naming the plugin
    and does not stop the import or the other plugins.
    """
