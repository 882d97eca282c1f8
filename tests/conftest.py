"""Shared fixtures: the metafor reference values and the tables they were made from."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

import metacore as mc

REF_DIR = Path(__file__).parent / "reference"


@cache
def reference() -> dict:
    """metafor reference values written by tests/reference/make_reference.R."""
    return json.loads((REF_DIR / "metafor_reference.json").read_text())


def table(name: str) -> pd.DataFrame:
    """A study table by the name the R script uses."""
    if name == "bcg_k2":
        return mc.datasets.load("bcg").iloc[:2].reset_index(drop=True)
    if name in mc.datasets.CATALOG:
        return mc.datasets.load(name)
    return pd.read_csv(REF_DIR / f"{name}.csv")


def nan_to_none(values) -> list:
    return [None if v != v else float(v) for v in values]



@pytest.fixture(autouse=True, scope="session")
def _database(tmp_path_factory):
    """Saved analyses go to a database of the test session, never the user's own."""
    old = os.environ.get("METACORE_DB")
    path = tmp_path_factory.mktemp("db") / "metacore.db"
    os.environ["METACORE_DB"] = f"sqlite:///{path}"
    yield os.environ["METACORE_DB"]
    if old is None:
        os.environ.pop("METACORE_DB", None)
    else:
        os.environ["METACORE_DB"] = old



def _postgres_binaries() -> tuple[str, str] | None:
    for d in ("/usr/local/bin", *sorted(Path("/usr/lib/postgresql").glob("*/bin"))):
        init, ctl = Path(d) / "initdb", Path(d) / "pg_ctl"
        if init.exists() and ctl.exists():
            return str(init), str(ctl)
    return None


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server of the test session (started once, stopped at the end)."""
    bins = _postgres_binaries()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed")
    if bins is None:
        pytest.skip("PostgreSQL is not installed on this machine")
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: PostgreSQL refuses to start as root")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no postgres user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = Path(tempfile.mkdtemp(prefix="metacore-pg-"))
    os.chmod(data, 0o777)
    pgdata = data / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    init, ctl = bins
    # a throw-away server: no fsync (nothing here must survive a crash), which makes
    # each test's schema set-up several times faster
    out = subprocess.run([*as_user, init, "-N", "-D", str(pgdata), "-A", "trust",
                          "-U", "metacore"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        pytest.skip(f"initdb failed: {out.stderr[-300:]}")
    log = data / "log"
    start = subprocess.run([*as_user, ctl, "-D", str(pgdata), "-l", str(log), "-w", "-o",
                            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off "
                            "-c synchronous_commit=off -c full_page_writes=off", "start"],
                           capture_output=True, text=True, timeout=120)
    if start.returncode != 0:
        pytest.skip(f"PostgreSQL did not start: {start.stderr[-300:]}")
    try:
        yield f"postgresql+psycopg://metacore@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, ctl, "-D", str(pgdata), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def _postgres_test_database(postgres_url):
    import sqlalchemy as sa

    name = "metacore_tests"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    yield postgres_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def postgres_db(_postgres_test_database):
    """The URL of an empty database on the session's PostgreSQL server: each test starts
    from nothing (emptying the schema is ten times faster than a new database)."""
    import sqlalchemy as sa

    engine = sa.create_engine(_postgres_test_database, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return _postgres_test_database


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``make test`` (which installs R, Chromium, nginx and PostgreSQL's needs) a
    skipped test is a failure: a missing tool must not pass CI silently."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("METACORE_NO_SKIPS") and report.skipped:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under make test, which installs what every test needs: {reason}"
