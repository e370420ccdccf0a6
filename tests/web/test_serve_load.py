"""What keeps the hosted form's tail short under load (benchmarks/bench_serve.py measures it):
the pages' ledger work runs in a few warm threads, a submission holds no thread while its batch
is written, and request logs leave the event loop through a queue."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import threading

import httpx

from web_project import form_link, messages


def test_concurrent_submissions_use_only_the_warm_page_threads(served, monkeypatch):
    import tierctl.storage.opener as opener
    from tierctl.web.desk import PAGE_THREADS

    folder, _, server = served
    opened_in: list[str] = []
    real = opener.open_ledger

    def counting(*args, **kwargs):
        opened_in.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(opener, "open_ledger", counting)
    links = [form_link(m) for m in messages(folder).values()]
    desk = server.app.desk
    csrf = {link: desk.csrf(link.rsplit("/", 1)[1].split(".")[0]) for link in links}

    async def submit_many() -> list[int]:
        async with httpx.AsyncClient() as http:
            async def one(n: int) -> int:
                link = links[n % len(links)]
                answer = await http.post(link, data={"csrf": csrf[link], "nps": str(n % 11)})
                return answer.status_code
            return await asyncio.gather(*(one(n) for n in range(60)))

    statuses = asyncio.run(submit_many())
    assert statuses == [303] * 60
    # The page threads opened their connections at start; only the batch writer opens one now
    # (without the warm pool each of the server's ~40 worker threads opened its own).
    assert [name for name in opened_in if not name.startswith("tierctl-web-writer")] == []
    assert len(opened_in) <= 1
    assert len({t.name for t in threading.enumerate() if t.name.startswith("tierctl-web_")}) == PAGE_THREADS


def test_a_submission_awaits_its_commit_without_holding_a_thread(served):
    """The write is queued, and the page thread is free again before the batch is committed."""
    from tierctl.web.desk import Queued

    folder, _, server = served
    desk = server.app.desk
    link = form_link(messages(folder)["ann@acme.example"])
    opened = desk.open(link.rsplit("/", 1)[1])
    gate = threading.Event()
    real_write = desk.writer._write

    def held_write(jobs):
        gate.wait(10)
        real_write(jobs)

    desk.writer._write = held_write
    try:
        begun = desk.begin_submit(opened, {"nps": "8"})
        assert isinstance(begun, Queued) and not begun.done.done()  # returned while the write waits
        gate.set()
        assert begun.done.result(10) is True
        assert desk.finish_submit(begun).ok
    finally:
        desk.writer._write = real_write
    assert desk.previous_answers(desk.open(link.rsplit("/", 1)[1]))["nps"] == "8"


def test_request_logs_go_through_a_queue(tmp_path):
    from tierctl.web.app import log_off_the_loop

    logger, root = logging.getLogger("tierctl"), logging.getLogger()
    saved, saved_root = logger.handlers[:], root.handlers[:]
    path = tmp_path / "log.txt"
    stream = path.open("w")
    logger.handlers[:] = [logging.StreamHandler(stream)]
    listeners = []
    try:
        listeners = log_off_the_loop()
        assert [type(h) for h in logger.handlers] == [logging.handlers.QueueHandler]
        logging.getLogger("tierctl.web").warning("GET /s/… 200 %.1fms", 1.5)
        for _ in range(100):
            if "GET /s/… 200 1.5ms" in path.read_text():
                break
            threading.Event().wait(0.02)
        assert "GET /s/… 200 1.5ms" in path.read_text()
    finally:
        import atexit

        for listener in listeners:
            listener.stop()
            atexit.unregister(listener.stop)  # stopped once
        logger.handlers[:] = saved
        root.handlers[:] = saved_root
        stream.close()


def test_the_serve_workers_app_freezes_its_startup_heap(served, monkeypatch):
    """``tierctl serve`` builds each worker's app with :func:`tierctl.web.serve_app`: the startup heap
    is frozen (full collections stopped walking it: 90-140 ms pauses under load) and young
    collections run less often."""
    import gc

    from tierctl.web import GC_YOUNG_THRESHOLD, serve_app

    folder, config, _ = served
    monkeypatch.setenv("TIERCTL_CONFIG", str(config))
    threshold = gc.get_threshold()
    try:
        app = serve_app()
        assert gc.get_freeze_count() > 10_000 and gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        app.desk.close()
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
