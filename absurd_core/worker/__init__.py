"""The ``runworker`` process: a claim loop feeding execution threads.

- ``connection``: worker-side psycopg connections (autocommit, timeouts);
- ``context``: the task context handed to task functions;
- ``executor``: runs one claimed task and settles its run;
- ``runner``: the claim loop, the threads and shutdown.
"""
