"""The plain absurd-sdk worker (Absurd.start_worker) running demo.two_steps and demo.wait_event."""

import sys
import threading

from absurd_sdk import Absurd


def two_steps(params, ctx):
    i = int(params["i"])
    incremented = ctx.step("increment", lambda: i + 1)
    doubled = ctx.step("double", lambda: incremented * 2)
    return {"i": i, "doubled": doubled}


def wait_event(params, ctx):
    return ctx.await_event(str(params["event"]))


def main() -> None:
    url, concurrency = sys.argv[1], int(sys.argv[2])
    app = Absurd(url, queue_name="demo")
    app.register_task("demo.two_steps")(two_steps)
    app.register_task("demo.wait_event")(wait_event)
    threading.Timer(0.2, lambda: print("sdk.ready", flush=True)).start()
    app.start_worker(worker_id="sdk-bench", concurrency=concurrency)


if __name__ == "__main__":
    main()
