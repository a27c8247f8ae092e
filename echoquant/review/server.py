"""Serving the review app: a free port, a warning off localhost, the browser opened
once the server listens (:func:`serve`, what ``echoquant review`` calls)."""

from __future__ import annotations

import socket
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path

__all__ = ["LOCAL_HOSTS", "free_port", "serve"]

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(out_dir: str | Path, *, reviewer: str, host: str = "127.0.0.1", port: int | None = None,
          open_browser: bool = True, say: Callable[[str], None] = print) -> None:
    """Serve the review of ``out_dir`` until interrupted (Ctrl+C).

    Args:
        out_dir: an ``echoquant analyze`` output folder.
        host: interface to bind; anything but localhost is announced with a warning
            (the page has no login: anyone who reaches the port can record decisions).
        port: TCP port (None: a free one).
        reviewer: the name decisions are recorded under.
        open_browser: open the page in the default browser once the server listens.
        say: where messages go.
    """
    import uvicorn

    from echoquant.review.app import create_app

    app = create_app(out_dir, reviewer)
    port = port or free_port(host)
    if host not in LOCAL_HOSTS:
        say(f"warning: serving on {host}, not only this machine; the review has no login, so anyone who can reach "
            f"port {port} can read the clips and record decisions")
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}/"
    say(f"reviewing {Path(out_dir)} as {reviewer!r} at {url} (Ctrl+C to stop)")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    if open_browser:
        def _open() -> None:
            # wait for the socket, then open: the page must not meet a refused connection
            while not server.started and not server.should_exit:
                threading.Event().wait(0.05)
            if server.started:
                webbrowser.open(url)

        threading.Thread(target=_open, daemon=True).start()
    server.run()
