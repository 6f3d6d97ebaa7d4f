"""`hpsearch dashboard`: optuna-dashboard on a study database and its artifact store, until Ctrl-C or SIGTERM.

The database is opened without being created (a mistyped --storage is an error, not a new empty
database). optuna-dashboard's WSGI app is served by the standard library's threaded WSGI server, so
binding errors become one-line messages and a signal stops it with exit code 0. The dashboard has no
authentication: anyone who reaches the port can read and change the studies, hence the warning when it
listens on more than the loopback interface.
"""

from __future__ import annotations

import errno
import ipaddress
import signal
import socket
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from hpsearch.errors import UsageError
from hpsearch.spec.storage_url import redact


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a download in progress does not hold up the stop
    block_on_close = False

    def handle_error(self, request, client_address) -> None:
        """One line instead of a traceback; a browser closing its connection is no error."""
        kind, exc = sys.exc_info()[:2]
        if kind is not None and issubclass(kind, ConnectionError):
            return
        print(f"dashboard: a request from {client_address[0]} failed: {exc!r}", file=sys.stderr, flush=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the standard library's name
        pass  # no line per request


def serve(storage_url: str, host: str, port: int) -> None:
    """Serve the dashboard on `storage_url` at host:port until SIGINT or SIGTERM, then return."""
    import optuna_dashboard

    from hpsearch.store import artifacts, folders
    from hpsearch.store.studies import storage_for

    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, but got {port}")
    storage = storage_for(storage_url, create=False)
    try:
        store = artifacts.store_for(storage_url)
        stored = f"artifacts in {folders.artifacts_root(storage_url)}"
    except OSError as exc:
        store, stored = None, "no artifacts"
        print(f"warning: cannot use the artifact folder ({exc.strerror or exc}): serving without artifacts",
              file=sys.stderr, flush=True)
    app = optuna_dashboard.wsgi(storage, artifact_store=store)
    server = _bind(host, port)
    server.set_app(app)
    if not _loopback(host):
        print(f"warning: the dashboard has no authentication: anyone who can reach {host}:{server.server_port} "
              "can read and change these studies", file=sys.stderr, flush=True)
    print(f"dashboard of {redact(storage_url)} ({stored})", flush=True)
    print(f"open {_address(host, server.server_port)} (Ctrl-C stops it)", flush=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.server_close()
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, previous)
    print("dashboard stopped", flush=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _bind(host: str, port: int) -> _Server:
    """The listening server, or a UsageError that says in one line why it cannot listen."""
    server_class = _Server6 if ":" in host else _Server
    try:
        return server_class((host, port), _QuietHandler)
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {host!r}: {exc.strerror} (choose another --host)") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} is in use: choose another with --port") from None
        if exc.errno == errno.EACCES:
            raise UsageError(f"port {port} needs privileges: choose one above 1023 with --port") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(f"{host} is not an address of this machine: choose another with --host") from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in found)


def _address(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host or "0.0.0.0"
    return redact(f"http://{shown}:{port}/dashboard/")
