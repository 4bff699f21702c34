"""The one run path every front end takes: `task.run_task(WorkTask, sink, networks, report, should_stop)`.

`headfuse reconstruct` runs a clip into a folder, the server's workers (local processes and Ray actors)
into the crash-safe job store, and `headfuse batch` each chunk into both; `headfuse demo` goes through
the server. `sinks` holds the outputs and `manifest` the format of a folder's index.
"""
