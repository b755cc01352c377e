"""The HTTP server around the front door: uvicorn, configured so no client can exhaust the host.

uvicorn bounds how long an idle keep-alive connection lives, but not how long a client may take to
send a request head or a body; issue 11 (finding 5) held 1,100 connections open by trickling bytes,
until SDK calls timed out and cron-fired tasks failed with "Too many open files". This module adds,
in a subclass of uvicorn's h11 protocol (the one uvicorn uses here, httptools not being installed):

* **connection cap**: beyond `max_connections` open connections a new one is aborted in
  `connection_made`, before any parsing; the cap is clamped to half the descriptor limit so task
  spawning, log files and the database always have descriptors left;
* **header timeout**: a request head must be complete within `header_timeout` of the connection's
  first byte (or of the connection itself), else the connection is closed;
* **body deadline**: a body must arrive within `body_timeout + length / body_min_rate` seconds,
  so a slow upload is granted time in proportion to its size but a stalled one is closed;
* **idle timeout**: uvicorn's keep-alive timeout, `idle_timeout`;
* a body the application answered without reading (refused on its headers) is discarded as it
  arrives, under the same deadline, instead of keeping the connection alive.

Every timer is per connection and armed only on a state change, so a normal request costs a couple
of attribute reads per `data_received`. `raise_nofile_limit` lifts the soft RLIMIT_NOFILE to the
hard limit at start; `uvicorn_config` puts it all together (TLS included) for `trigflow up`.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["ConnectionLimits", "guarded_protocol", "raise_nofile_limit", "uvicorn_config"]

log = logging.getLogger("trigflow.api.server")

# Descriptors kept out of the connection cap's reach: the database, log files, task pipes.
_DESCRIPTOR_SHARE = 2


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 1000
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    body_min_rate: int = 64 * 1024
    idle_timeout: float = 5.0
    max_body: int = 10 * 1024 * 1024  # deadline for a body of unknown (chunked) length


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (the default soft 1024 is what the 1,100
    connections of the probe exhausted); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # e.g. a container forbids it; the clamp below still applies
            pass
    return soft


def effective_max_connections(requested: int, nofile_soft: int) -> int:
    """The connection cap actually used: at most half the descriptor limit, at least 1."""
    return max(1, min(requested, nofile_soft // _DESCRIPTOR_SHARE))


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """An H11Protocol subclass enforcing `limits`; uvicorn instantiates it per connection."""

    class GuardedH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.timeout_keep_alive = limits.idle_timeout  # type: ignore[assignment]  # call_later takes floats
            self._refused = False
            self._phase: str | None = None  # "head", "body" or None (nothing expected from the client)
            self._deadline: asyncio.TimerHandle | None = None

        # -------------------------------------------------------------------------------- cap
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.server_state.connections) >= limits.max_connections:
                self._refused = True
                log.warning("connection cap of %d reached; refusing a connection", limits.max_connections)
                transport.abort()  # frees the descriptor now; no parser, no timer, no task
                return
            super().connection_made(transport)
            self._arm("head", limits.header_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            self._disarm()
            super().connection_lost(exc)

        # ---------------------------------------------------------------------------- timers
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._track()

        def on_response_complete(self) -> None:
            if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
                # Answered on the headers alone: the rest of the body is discarded as it arrives (uvicorn
                # drops Data once our side is DONE), under the body deadline already armed; no keep-alive
                # until the client has finished, and reading resumes so the client can finish.
                self.server_state.total_requests += 1
                self.flow.resume_reading()
                return
            super().on_response_complete()
            self._track()

        def _track(self) -> None:
            theirs = self.conn.their_state
            if theirs is h11.SEND_BODY:
                if self._phase != "body":
                    self._arm("body", self._body_deadline())
            elif theirs is h11.IDLE:
                if self.conn.trailing_data[0]:  # part of a request head is buffered
                    if self._phase != "head":
                        self._arm("head", limits.header_timeout)
                elif self.timeout_keep_alive_task is None:
                    # Between requests with no keep-alive timer of uvicorn's running (after a discarded
                    # body): idle for at most idle_timeout.
                    self._arm("idle", limits.idle_timeout)
                else:
                    self._disarm()
            else:  # the request is complete: the application has the turn, the client owes nothing
                self._disarm()

        def _body_deadline(self) -> float:
            length = limits.max_body
            for name, value in self.headers or ():
                if name == b"content-length" and value.isdigit():
                    length = int(value)
            return limits.body_timeout + length / limits.body_min_rate

        def _arm(self, phase: str, seconds: float) -> None:
            self._disarm()
            self._phase = phase
            self._deadline = self.loop.call_later(seconds, self._expire, phase, seconds)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._phase = None

        def _expire(self, phase: str, seconds: float) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            what = {"head": "request head not complete", "body": "request body not received", "idle": "idle"}
            client = self.client[0] if self.client else "-"
            log.info("closing connection from %s: %s within %gs", client, what[phase], seconds)
            self._drop()

        def _drop(self) -> None:
            """Close a connection nobody is waiting on. Over TLS, close() would first wait for the peer's
            close_notify (asyncio gives it 30 s), keeping the descriptor and a cap slot all that time."""
            if self.scheme == "https":
                self.transport.abort()
            else:
                self.transport.close()

        def timeout_keep_alive_handler(self) -> None:
            if not self.transport.is_closing():
                self.conn.send(h11.ConnectionClosed())
                self._drop()

        def shutdown(self) -> None:
            if self.cycle is None or self.cycle.response_complete:
                self.conn.send(h11.ConnectionClosed())
                self._drop()
            else:
                self.cycle.keep_alive = False

    return GuardedH11Protocol


def uvicorn_config(
    app: Any,
    *,
    host: str,
    port: int,
    log_level: str,
    limits: ConnectionLimits,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> uvicorn.Config:
    """uvicorn settings for `trigflow up`: our protocol, no `server` header, our logging, TLS when given.

    `log_config=None` leaves logging to the CLI's root handler, where the log throttle sits; uvicorn's
    own dictConfig would give its loggers handlers of their own that bypass it.
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(limits),
        log_level=log_level,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
    )
