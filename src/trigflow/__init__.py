"""trigflow: a self-hosted workflow orchestrator that speaks WeData's 2025-08-06 trigger-workflow API."""

__version__ = "0.1.0"
