"""test_celery_workers.py's tests on RabbitMQ: the same test functions, with the `broker` fixture naming
RabbitMQ (127.0.0.1:5672, guest/guest) instead of Redis (the module docstring there says what is checked).

A file of its own only for wall time: on each broker the module runs for minutes, and pytest-xdist (`make test`:
--dist loadfile) runs one file in one worker, so as two files the brokers run in two workers at once. Every
`test_*` of the Redis module is taken over as it is, with the fixtures it uses (none is listed here, so a new
one cannot be forgotten); tests that only apply to Redis skip themselves on RabbitMQ, as before.
"""

from __future__ import annotations

import pytest

from tests.integration import test_celery_workers as _redis_half
from tests.integration.test_celery_workers import BROKERS

# its tests and its fixtures (a fixture is looked up in the module that collects the test), all but `broker`
globals().update({n: obj for n, obj in vars(_redis_half).items() if not n.startswith("__") and n != "broker"})


@pytest.fixture(params=["rabbitmq"], scope="module")
def broker(request: pytest.FixtureRequest) -> str:
    return BROKERS[str(request.param)]
