"""The `trigflow` API client: profiles and credentials, signed calls through the official SDK, and
rendering of responses for people (tables) and scripts (JSON).

It talks to a trigflow server (or WeData itself) over the wire only, so it may import the pure
`trigflow.domain` but never the store, services, engine, executors, API or app (import-linter contract).
"""
