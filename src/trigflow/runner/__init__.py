"""The worker-side runner: `trigflow run-attempt` runs one attempt of a work type other than Shell/Python.

See docs/adr/0004-task-types.md for the contract (the workload document, log, outputs, exit code, SIGTERM).
"""
