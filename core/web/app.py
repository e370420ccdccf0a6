"""The Starlette app of ``tierctl serve``: routes over :class:`~tierctl.web.desk.SurveyDesk`.

Routes::

    GET  /healthz                 200 when the ledger answers, else 503 (for load balancers)
    GET  /s/<token>               the survey form (or "this survey has closed")
    POST /s/<token>               submit; 303 to the thank-you page, or the form again with errors (422)
    GET  /s/<token>/thanks        thank you
    GET  /u/<token>               "stop receiving surveys?" with a confirm button (never unsubscribes alone)
    POST /u/<token>               unsubscribe: RFC 8058 one-click, or the confirm button
    POST /hooks/<name>            the platforms' webhooks (tierctl.web.hooks)
    GET  /static/form.css         the pages' only style sheet (no inline style or script)

Every answer passes :class:`~tierctl.web.guard.Guard` (headers, limits, quiet errors, logs without tokens).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from tierctl.web.links import FORM, UNSUBSCRIBE, make_token
from tierctl.i18n import _, current_language, use_language
from tierctl.i18n.text import in_language

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.web.desk import Opened, SurveyDesk


def create_app(config_path: str | None = None, *, clock: Callable[[], datetime] | None = None,
               host: Any = None) -> Any:
    """The ASGI app for a config file; the config must have a ``serve:`` section."""
    from tierctl.config.loader import load_config
    from tierctl.errors import TierctlError
    from tierctl.host.plugin_host import PluginHost
    from tierctl.web.desk import SurveyDesk
    from tierctl.web.guard import Guard, RateLimits

    _log_somewhere()
    path = config_path or os.environ.get("TIERCTL_CONFIG") or "tierctl.yaml"
    host = host or PluginHost.load()
    config = load_config(path, host)
    host.check()
    if config.serve is None:
        raise TierctlError(f"{path}: no serve: section; add serve: {{base_url: https://surveys.example, "
                           "secret: ${TIERCTL_SERVE_SECRET}} to run the hosted form")
    desk = SurveyDesk(config, host, clock)
    desk.warm()
    app = _routes(config, desk)
    serve = config.serve
    guarded = Guard(app, serve.max_body_bytes, RateLimits(serve.rate_per_ip, serve.rate_per_token,
                                                                 per_ip_hooks=serve.rate_per_ip_hooks))
    guarded.desk = desk  # type: ignore[attr-defined]  # for tests and embedding
    return guarded


def _log_somewhere() -> None:
    """A worker process started by uvicorn (``--workers N``) has no log handler yet: log to stderr,
    off the event loop (:func:`log_off_the_loop`)."""
    import logging

    root = logging.getLogger("tierctl")
    if not root.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        log_off_the_loop()


def log_off_the_loop() -> list[Any]:
    """Hand log records to a queue that one thread writes out, instead of writing them in the logging
    thread: every request logs a line, and with the handler's lock shared by the event loop and
    the worker threads a slow stderr stalls every connection (seen as p99 in bench_serve).
    Returns the listeners started (each stops at exit, or when its ``stop()`` is called)."""
    import atexit
    import logging
    import logging.handlers
    import queue

    listeners = []
    for logger in (logging.getLogger(), logging.getLogger("tierctl")):
        handlers = [h for h in logger.handlers if not isinstance(h, logging.handlers.QueueHandler)]
        if not handlers:
            continue
        records: "queue.SimpleQueue[logging.LogRecord]" = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
        for handler in handlers:
            logger.removeHandler(handler)
        logger.addHandler(logging.handlers.QueueHandler(records))
        listener.start()
        atexit.register(listener.stop)  # what is queued is written before the process ends
        listeners.append(listener)
    return listeners


def _routes(config: "Config", desk: "SurveyDesk") -> Any:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Route

    from tierctl.web.desk import Queued
    from tierctl.web.form import MAX_TEXT, fields
    from tierctl.web.writer import WAIT_S
    from tierctl.web.hooks import webhook_route

    pages = _Pages(config)
    pages.warm()

    async def in_page_thread(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(desk.pool, functools.partial(fn, *args))
    base = urlsplit(config.serve.base_url)  # type: ignore[union-attr]
    root = base.path.rstrip("/")
    public_origin = f"{base.scheme}://{base.netloc}"

    def page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
        # In the language set by the route (use_language): the invitation's, else the organisation's.
        return HTMLResponse(pages.render(name, root=root, **values), status_code=status,
                            headers={"cache-control": "no-store"})

    def message(title: str, *lines: str, status: int = 200) -> HTMLResponse:
        return page("web/message.html", status, title=title, lines=list(lines))

    def not_valid() -> HTMLResponse:
        return message(_("This link is not valid"),
                       _("Please open the link from your invitation e-mail exactly as it was sent."), status=404)

    def closed() -> HTMLResponse:
        return message(_("This survey has closed"), _("Thank you for your interest. Answers are no longer "
                                                      "collected for this survey."), status=410)

    def same_origin(request: Request) -> bool:
        # Referrer-Policy: no-referrer makes browsers send "Origin: null" on our own posts; the
        # CSRF token is the real check, this one only refuses posts that name another site.
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return True
        own = f"{request.url.scheme}://{request.url.netloc}"
        return origin in (public_origin, own)

    def form_page(opened: "Opened", token: str, values: dict[str, str], errors: dict[str, str],
                  status: int = 200) -> HTMLResponse:
        survey, inv = opened.survey, opened.invitation
        assert survey is not None and inv is not None and opened.invite_id is not None
        closes = inv["closes_at"] - timedelta(seconds=1)
        language, default = current_language(), config.organization.language
        return page("web/form.html", status, title=in_language(survey.title, language, default),
                    description=in_language(survey.description, language, default),
                    fields=fields(survey, values, errors, language, default), errors=errors, csrf=desk.csrf(opened.invite_id),
                    action=f"{root}/s/{token}", updating=opened.answered, max_text=MAX_TEXT,
                    closes_on=closes.date().isoformat(),
                    unsubscribe_link=f"{root}/u/{make_token(desk.secret, UNSUBSCRIBE, opened.invite_id)}")

    async def healthz(request: Request) -> Response:
        ok = await in_page_thread(desk.healthy)
        return JSONResponse({"status": "ok" if ok else "unavailable"}, status_code=200 if ok else 503,
                            headers={"cache-control": "no-store"})

    async def survey_form(request: Request) -> Response:
        token = request.path_params["token"]
        if request.method == "GET":
            def load() -> tuple["Opened", dict[str, str]]:
                opened = desk.open(token, FORM)
                return opened, (desk.previous_answers(opened) if not opened.problem else {})

            opened, previous = await in_page_thread(load)
            with use_language(desk.language(opened)):
                if opened.problem:
                    return not_valid() if opened.problem == "invalid" else closed()
                return form_page(opened, token, previous, {})
        if not same_origin(request):
            return PlainTextResponse("Cross-site form posts are refused.\n", status_code=403)
        form = await request.form(max_files=0, max_fields=200, max_part_size=MAX_TEXT * 4)
        data: dict[str, Any] = {}
        for key in form.keys():  # a checkbox group sends its name once per ticked box
            values = [v for v in form.getlist(key) if isinstance(v, str)]
            if values:
                data[key] = values if len(values) > 1 else values[0]

        def begin() -> tuple["Opened", Any]:
            # One trip to a worker thread: the link, the CSRF token, the checks, the queued write.
            opened = desk.open(token, FORM)
            if opened.problem:
                return opened, None
            if not desk.csrf_ok(opened.invite_id, data.get("csrf")):  # type: ignore[arg-type]
                return opened, "csrf"
            return opened, desk.begin_submit(opened, data)

        opened, begun = await in_page_thread(begin)
        if isinstance(begun, Queued):
            # The answer is committed before the redirect; meanwhile no worker thread is held.
            await asyncio.wait_for(asyncio.wrap_future(begun.done), WAIT_S)
            begun = (await run_in_threadpool(desk.finish_submit, begun) if desk.needs_thread_to_finish(begun)
                     else desk.finish_submit(begun))
        with use_language(desk.language(opened)):
            if opened.problem:
                return not_valid() if opened.problem == "invalid" else closed()
            if begun == "csrf":
                return message(_("This form has expired"), _("Please open the link from your invitation again."),
                               status=403)
            if not begun.ok:
                return form_page(opened, token, begun.typed, begun.errors, status=422)
        return RedirectResponse(f"{root}/s/{token}/thanks", status_code=303)

    async def thanks(request: Request) -> Response:
        opened = await in_page_thread(desk.open, request.path_params["token"], FORM)
        with use_language(desk.language(opened)):
            if opened.problem == "invalid":
                return not_valid()
            return message(_("Thank you!"), _("Your answers have been saved."),
                           _("You can change them with the same link until the survey closes."))

    async def unsubscribe(request: Request) -> Response:
        token = request.path_params["token"]
        opened = await in_page_thread(desk.open, token, UNSUBSCRIBE)
        language = desk.language(opened)
        with use_language(language):
            if opened.problem == "invalid":
                return not_valid()
            assert opened.invite_id is not None and opened.survey is not None
            if request.method == "GET":  # mail scanners follow links: a GET only asks
                return page("web/unsubscribe.html", title=_("Stop receiving surveys"), action=f"{root}/u/{token}",
                            csrf=desk.csrf(opened.invite_id),
                            survey_title=in_language(opened.survey.title, language, config.organization.language))
        form = await request.form(max_files=0, max_fields=20, max_part_size=1024)
        one_click = form.get("List-Unsubscribe") == "One-Click"
        # RFC 8058: the one-click POST comes from the mail client without our page; the signed link
        # is the authority. The button on our page carries the CSRF token.
        with use_language(language):
            if not one_click and not desk.csrf_ok(opened.invite_id, form.get("csrf")):
                return message(_("This form has expired"), _("Please open the link from your invitation again."),
                               status=403)
        only_this = not one_click and form.get("scope") == "survey"
        await in_page_thread(desk.unsubscribe, opened, only_this)
        if one_click:
            return PlainTextResponse("Unsubscribed.\n")
        with use_language(language):
            return message(_("You are unsubscribed"), _("We will not send you surveys again.") if not only_this
                           else _("We will not send you this survey again."))

    async def stylesheet(request: Request) -> Response:
        return Response(pages.css, media_type="text/css", headers={"cache-control": "public, max-age=3600"})

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204, headers={"cache-control": "public, max-age=86400"})

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 404:
            with use_language(config.organization.language):
                return message(_("Page not found"), status=404)
        return PlainTextResponse(f"{getattr(exc, 'detail', '') or 'Refused'}\n", status_code=status)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/s/{token}", survey_form, methods=["GET", "POST"]),
        Route("/s/{token}/thanks", thanks, methods=["GET"]),
        Route("/u/{token}", unsubscribe, methods=["GET", "POST"]),
        Route("/static/form.css", stylesheet, methods=["GET"]),
        Route("/favicon.ico", no_icon, methods=["GET"]),
        webhook_route(config, desk),
    ]
    if root:
        from starlette.routing import Mount

        routes = [Route("/healthz", healthz, methods=["GET"]), Mount(root, routes=routes)]
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        # The server stops: store what is queued, stop the threads, close the connections (off the
        # event loop: joining threads blocks).
        await asyncio.get_running_loop().run_in_executor(None, desk.close)

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found, 400: not_found},
                     lifespan=lifespan)


class _Pages:
    """The pages' jinja2 templates (``render.templates`` overrides first), autoescaped, with ``_``."""

    def __init__(self, config: "Config"):
        import jinja2

        from tierctl.render import builtin_templates

        builtin = builtin_templates()
        search = []
        if config.render.templates:
            search.append(str(config.base_dir / config.render.templates))
        search.append(str(builtin))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(search), jinja2.PrefixLoader(
                {"default": jinja2.FileSystemLoader(str(builtin))}, delimiter=":")]),
            autoescape=True, undefined=jinja2.StrictUndefined)
        self.env.globals["_"] = _
        org = config.organization
        self.common = {"org_name": org.name, "support_url": org.support_url}
        self.css = (builtin / "web" / "form.css").read_bytes()

    def warm(self) -> None:
        """Compile the pages' templates now rather than in the first requests."""
        for name in ("web/form.html", "web/message.html", "web/unsubscribe.html"):
            self.env.get_template(name)

    def render(self, name: str, **values: Any) -> str:
        """The page in the current language (:func:`~tierctl.i18n.use_language`), which it declares."""
        return self.env.get_template(name).render(**self.common, lang=current_language(), **values)
