"""Modules a Spark job imports by the names WeData's DLC gives them; this directory is on the job's PYTHONPATH
(trigflow.runner.spark), so `from dlcutils import dlcutils` works unchanged."""
