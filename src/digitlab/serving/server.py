"""Running the app under uvicorn, one or several worker processes, each building the app from the same
``ServeConfig``: the config travels to the workers inside uvicorn's own (pickled) settings, as a factory."""

from __future__ import annotations

import functools
from collections.abc import Callable

from digitlab.runs import open_run
from digitlab.serving.config import ServeConfig, ServerOptions
from digitlab.serving.feedback import open_store


def serve(config: ServeConfig, options: ServerOptions | None = None, *,
          on_ready: Callable[[], None] | None = None) -> None:
    """Serve until Ctrl-C. Binds to ``options.host`` (this machine only, by default).

    The run (and the feedback store) is opened here first, so that a bad one fails with one line before
    uvicorn starts;
    ``on_ready`` is called just before it does.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from digitlab.serving.app import create_app

    options = options or ServerOptions()
    open_run(config.run)
    if config.feedback:
        open_store(config.feedback, max_records=config.feedback_max).close()  # a bad store fails here, in one line
    uvicorn_config = uvicorn.Config(functools.partial(create_app, config), factory=True, host=options.host,
                                    port=options.port, workers=options.workers, log_level=options.log_level,
                                    access_log=options.access_log)
    if on_ready:
        on_ready()
    try:
        if options.workers > 1:  # what uvicorn.run does, which only takes an import string for several workers
            Multiprocess(uvicorn_config, sockets=[uvicorn_config.bind_socket()]).run()
        else:
            uvicorn.Server(uvicorn_config).run()
    except KeyboardInterrupt:
        pass
