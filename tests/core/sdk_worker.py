"""absurd-sdk's own worker (``Absurd.start_worker``) on the shared queue ``mixedq``.

Run as a subprocess by tests/core/test_mixed_fleets.py: ``python sdk_worker.py <database url>``.
It runs ``sdk.echo`` (a name runworker has never heard of) and ``test.external_charge`` (the
external task tests/fixtures/apps/testapp declares), and knows nothing of runworker's tasks.
"""

import sys
import threading

from absurd_sdk import Absurd


def echo(params, ctx):
    return {"by": "absurd-sdk", "n": params.get("n")}


def charge(params, ctx):
    return {"by": "absurd-sdk", "charged": params.get("amount")}


def main() -> None:
    app = Absurd(sys.argv[1], queue_name="mixedq")
    app.register_task("sdk.echo")(echo)
    app.register_task("test.external_charge")(charge)
    threading.Timer(0.1, lambda: print("sdk.ready", flush=True)).start()
    app.start_worker(worker_id="sdk-worker", concurrency=2, poll_interval=0.25)


if __name__ == "__main__":
    main()
