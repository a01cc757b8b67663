"""moto's S3 server, with conditional writes made atomic as S3 and MinIO make them.

    python tests/moto_atomic.py -H 127.0.0.1 -p PORT

moto 5 checks ``If-None-Match: *`` (and ``If-Match``) and then stores the object without a lock
(``moto/s3/responses.py``), so on its threaded server two conditional PUTs of one key can both
pass the check: on a loaded machine the contract test of six racing manifest writers saw two
winners. S3 promises exactly one, and that promise is what the product relies on. This launcher
serves moto's own application with one lock held around each conditional write, from its
check to its store; every other request runs concurrently as before, so a stalled upload (the
fault proxy's) holds nothing up.
"""

from __future__ import annotations

import argparse
import os
import threading
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def atomic_conditional_writes(app: Callable) -> Callable:
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        conditional = environ.get("HTTP_IF_NONE_MATCH") or environ.get("HTTP_IF_MATCH")
        if conditional and environ.get("REQUEST_METHOD") in ("PUT", "POST"):
            with lock:  # the whole response is made inside: moto checks and stores in it
                return list(app(environ, start_response))
        return app(environ, start_response)

    return serve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, required=True)
    args = ap.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]  # as moto.server does
    run_simple(args.host, args.port, atomic_conditional_writes(app), threaded=True)


if __name__ == "__main__":
    main()
