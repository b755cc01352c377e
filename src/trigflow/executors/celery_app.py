"""The one Celery configuration the server (sender) and `trigflow worker` (consumer) share.

Celery is only the transport and the worker runtime (docs/adr/0006-celery-workers.md); the trigflow database
stays the truth. The settings follow the lessons of /work/shared/ANCHORS.md §1.2-1.3:

* `task_acks_late` + `worker_prefetch_multiplier=1` + `task_reject_on_worker_lost`: a message is acked only
  when its attempt ended, a worker reserves one message per free slot, a worker that dies before the
  server accepted the start gives its message back. The price is at-least-once delivery, which the
  server's start fence turns into at-most-once *execution*.
* C1 (Redis redelivers an unacked message after `visibility_timeout`): the timeout defaults to 24 h, above
  any sane execution timeout (`trigflow up/worker --visibility-timeout`); a redelivery past it is refused
  by the fence anyway (409, the second worker acks and drops it), so it can never run an attempt twice.
* C3 (RabbitMQ `consumer_timeout`, 30 min by default, closes the channel of a consumer holding an unacked
  message): the attempt keeps running and reporting over HTTP, the requeued message is refused by the
  fence. Celery 5.7 treats that channel error as unrecoverable and stops the whole worker (measured, test_c3_* in
  tests/integration/test_celery_consumption.py): `broker_channel_error_retry` makes it reconnect and consume
  again instead. Raise `consumer_timeout` in rabbitmq.conf above the longest execution timeout to avoid the
  noise (docs/workers.md).
* No result backend: states come back over the server's internal HTTP endpoint, not through Celery.
"""

from __future__ import annotations

from typing import Any

DEFAULT_VISIBILITY_TIMEOUT_S = 86_400
TASK_NAME = "trigflow.run_attempt"


def queue_name(group: str) -> str:
    """The Celery queue of a resource group: one queue per group, so a worker serves exactly its group."""
    return f"trigflow.{group}"


def make_app(broker: str, visibility_timeout_s: int = DEFAULT_VISIBILITY_TIMEOUT_S) -> Any:
    """A Celery app on `broker` (redis://... or amqp://...), configured as the module docstring says."""
    from celery import Celery

    app = Celery("trigflow", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        broker_channel_error_retry=True,  # C3: a channel closed by the broker reconnects, not a dead worker
        broker_transport_options=_transport_options(visibility_timeout_s),
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_enable_remote_control=False,
        broker_heartbeat=10,
    )
    return app


def _transport_options(visibility_timeout_s: int) -> dict[str, Any]:
    """kombu scans Redis for expired unacked messages only every ~100 s by default; a short visibility timeout
    (tests, or an operator who lowered it) gets scans at half of it, so the timeout means what it says."""
    options: dict[str, Any] = {"visibility_timeout": visibility_timeout_s}
    if visibility_timeout_s < 200:
        options.update(unacked_restore_interval=max(1, visibility_timeout_s // 2), unacked_restore_throttle=1)
    return options
