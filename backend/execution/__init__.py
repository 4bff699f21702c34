"""Where tasks run, behind one interface that the server and the batch both drive:

    pool.submit(task, outputs=None, front=False)   # queue a `run.task.WorkTask`
    pool.poll(timeout) -> [(task, event), ...]      # the tasks' reports, ending finished | failed
    pool.cancel(job) -> [dropped queued tasks]      # a running task of the job ends `cancelled`
    pool.pending() -> bool
    pool.workers_info() -> {"wanted", "ready", "errors"}   # the server's pools: the protocol's WORKERS
    pool.close()

`processes.ProcessPool` (spawned local worker processes, supervised), `ray_pool.RayPool` (actors on a
Ray cluster) and `inline.InlinePool` (this process). Every pool runs `run.task.run_task` into the
crash-safe job store (`store.JobStore`, persistence as its own part); a worker lost for good ends its
task with a `failed` event of code `worker_lost`.
"""
