"""Store fixtures: every store test runs twice, on SQLite (a temp file) and on the local PostgreSQL server.

PostgreSQL isolation: each test session creates its own schema `tf_test_<random>` and points the Database
(and therefore Alembic) at it through the libpq `options=-csearch_path=...` URL option; the schema is dropped
with CASCADE at the end. An unreachable server fails the PostgreSQL tests instead of skipping them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from trigflow.store.engine import Database
from trigflow.store.tables import metadata

PG_URL = os.environ.get("TRIGFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_HOWTO = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """A plain engine on the server's default schema, used only to create and drop test schemas."""
    engine = sa.create_engine(PG_URL, poolclass=NullPool, connect_args={"connect_timeout": 5})
    problem = None
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as e:
        problem = str(e.orig).strip()
    if problem is not None:
        engine.dispose()
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable ({problem}); {PG_HOWTO}", pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def new_pg_schema(pg_admin: sa.Engine) -> Iterator[Callable[[], str]]:
    """Factory of fresh schemas; every schema it made is dropped (CASCADE) when the session ends."""
    made: list[str] = []

    def make() -> str:
        schema = f"tf_test_{secrets.token_hex(6)}"
        with pg_admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        return schema

    yield make
    with pg_admin.begin() as conn:
        for schema in made:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fresh_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database (no tables at all) of the current backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    make: Callable[[], str] = request.getfixturevalue("new_pg_schema")
    return schema_url(make())


@pytest.fixture(scope="session")
def database(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One migrated Database per backend for the whole session."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'trigflow.db'}"
    else:
        make: Callable[[], str] = request.getfixturevalue("new_pg_schema")
        url = schema_url(make())
    db = Database(url)
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def db(database: Database) -> Database:
    """The session database, emptied before each test."""
    with database.write() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    return database
