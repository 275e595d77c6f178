"""Running the app under uvicorn, one or several worker processes, each building the app from the same
``ServeConfig``: the config travels to the workers inside uvicorn's own (pickled) settings, as a factory.

With several workers on Linux each gets a listening socket of its own on the same port (SO_REUSEPORT),
and the kernel spreads new connections over them by their addresses. With one shared socket, as uvicorn
does it, the worker that wakes first takes whatever arrives together: a few long-lived connections opened
at once (a proxy's keep-alive pool, a load generator) could all land on one worker while the other
idled, halving the server's throughput for as long as they lasted.
"""

from __future__ import annotations

import functools
import gc
import socket
import sys
from collections.abc import Callable

from digitlab.errors import DigitlabError
from digitlab.feedback.store import open_store
from digitlab.runs import open_run
from digitlab.serving.app import create_app
from digitlab.serving.config import ServeConfig, ServerOptions
from digitlab.serving.protocol import DeadlineProtocol


class PortInUse(DigitlabError):
    """The address to serve on is taken (another server, or one still shutting down)."""


def serve(config: ServeConfig, options: ServerOptions | None = None, *,
          on_ready: Callable[[], None] | None = None) -> None:
    """Serve until Ctrl-C. Binds to ``options.host`` (this machine only, by default).

    The run (and the feedback store, and the port) is checked here first, so that a bad one fails with
    one line before uvicorn starts; ``on_ready`` is called just before it does.
    """
    import uvicorn

    options = options or ServerOptions()
    open_run(config.run)
    if config.feedback:
        open_store(config.feedback, max_records=config.feedback_max).close()  # a bad store fails here, in one line
    check_port_free(options.host, options.port)
    uvicorn_config = uvicorn.Config(functools.partial(worker_app, config), factory=True, host=options.host,
                                    port=options.port, workers=options.workers, log_level=options.log_level,
                                    access_log=options.access_log, http=DeadlineProtocol,
                                    limit_concurrency=options.limit_concurrency,
                                    timeout_keep_alive=options.keep_alive,
                                    timeout_graceful_shutdown=options.graceful_shutdown)
    uvicorn_config.header_timeout, uvicorn_config.body_timeout = options.header_timeout, options.body_timeout
    if on_ready:
        on_ready()
    try:
        if options.workers > 1:  # what uvicorn.run does, which only takes an import string for several workers
            _supervisor(uvicorn_config).run()
        else:
            uvicorn.Server(uvicorn_config).run()
    except KeyboardInterrupt:
        pass


def worker_app(config: ServeConfig):
    """The app, as each worker builds it, with what it holds for its whole life (modules, the model's
    session, the routes) moved out of the garbage collector's sight (``gc.freeze``). Else every full
    collection walks all of it while holding the GIL, for tens of milliseconds, and every request in
    flight on that worker waits it out; frozen, it walks only what requests create."""

    app = create_app(config)
    gc.collect()
    gc.freeze()
    return app


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port_free(host: str, port: int) -> None:
    """PortInUse unless ``host:port`` can be bound alone: a socket without SO_REUSEPORT cannot join another
    server's group, so this also keeps a second digitlab from silently sharing the first one's traffic."""
    probe = socket.socket(_family(host))
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as error:
        raise PortInUse(f"cannot serve on {host}:{port}: {error.strerror or error}") from None
    finally:
        probe.close()


def worker_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` beside the other workers' (SO_REUSEPORT); the worker listens on it."""
    sock = socket.socket(_family(host))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _supervisor(uvicorn_config):
    """uvicorn's supervisor (it restarts workers that die, and all of them on SIGHUP), with a socket per
    worker where the kernel can balance them (Linux, a fixed TCP port); else its own one shared socket."""
    from uvicorn.supervisors import Multiprocess

    if not sys.platform.startswith("linux") or not uvicorn_config.port:
        return Multiprocess(uvicorn_config, sockets=[uvicorn_config.bind_socket()])

    class SocketPerWorker(Multiprocess):
        """Each worker uvicorn starts reads ``self.sockets`` once, and gets a new socket. The supervisor's
        own copy is closed once the worker has started, so that a worker's death closes its socket: else
        the kernel would go on sending new connections to a socket nobody accepts on."""

        handed_out: list[socket.socket]

        @property
        def sockets(self) -> list[socket.socket]:
            sock = worker_socket(uvicorn_config.host, uvicorn_config.port)
            self.handed_out.append(sock)
            return [sock]

        @sockets.setter
        def sockets(self, _value) -> None:  # uvicorn's __init__ stores the list it was given
            self.handed_out = []

        def _close_handed_out(self) -> None:
            while self.handed_out:
                self.handed_out.pop().close()

        # Workers start in init_processes, or in an iteration of the supervisor's loop (a restart on SIGHUP,
        # one more on SIGTTIN, a replacement for a dead one), which ends with keep_subprocess_alive.
        def init_processes(self) -> None:
            super().init_processes()
            self._close_handed_out()

        def keep_subprocess_alive(self) -> None:
            super().keep_subprocess_alive()
            self._close_handed_out()

    return SocketPerWorker(uvicorn_config, sockets=[])
