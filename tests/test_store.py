"""Issue 11, engine side: the project file and the database of saved analyses."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest

import metacore as mc
from metacore.store.database import NotFound, Store, is_valid_id
from metacore.store.project import Project, from_json, to_json


def _project(name="BCG", **settings) -> Project:
    table = mc.datasets.load("bcg")
    table.insert(0, "include", True)
    return Project(table, {"measure": "RR", "tau2_method": "REML", **settings}, name=name,
                   source="BCG vaccine", example="bcg")


@pytest.fixture
def db(tmp_path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'store.db'}")


# --- project file --------------------------------------------------------------------------

def test_project_round_trip_keeps_table_mapping_settings_and_numbers():
    table = mc.datasets.load("magnesium")
    table.insert(0, "include", [True] * 20 + [False, True])
    table["note"] = ["x"] * 21 + [None]
    table.loc[3, "events_t"] = np.nan
    p = Project(table, {"measure": "OR", "model": "MH", "level": 0.9, "cc": 0.25,
                        "leave_out": [2, 5], "arm_t": "Magnesium", "drop00": True},
                mapping={"note": None}, name="Mg ‘trial’\n", source="magnesium.csv")
    q = from_json(to_json(p))
    assert q.name == "Mg ‘trial’" and q.mapping == {"note": None}
    assert q.settings == p.settings
    pd.testing.assert_frame_equal(q.table, p.table, check_dtype=False)
    a = mc.pool_mh(p.table, "OR")
    b = mc.pool_mh(q.table, "OR")
    assert a.estimate == b.estimate and a.k == b.k


def test_project_file_carries_format_and_version():
    doc = json.loads(to_json(_project()))
    assert doc["format"] == "metacore-project" and doc["version"] == 1
    assert doc["metacore_version"] == mc.__version__
    assert doc["table"]["columns"][:2] == ["include", "study"]


@pytest.mark.parametrize("text, reason", [
    (b"\x89PNG\r\n", "not UTF-8"),
    ("{not json", "not valid JSON"),
    ('{"format": "something-else", "version": 1}', "not a metacore project file"),
    ('[1, 2, 3]', "not a metacore project file"),
    ('{"format": "metacore-project", "version": 99}', "format version 99"),
    ('{"format": "metacore-project", "version": 1, "table": {"columns": ["a"], '
     '"data": [[1, 2]]}}', "does not have 1 cells"),
    ('{"format": "metacore-project", "version": 1, "table": {"columns": ["a"], '
     '"data": [[{"x": 1}]]}}', "not a number, text"),
    ('{"format": "metacore-project", "version": 1, "table": {"columns": ["a"], '
     '"data": [[1]]}, "settings": {"measure": "DROP TABLE"}}', "setting 'measure' must be"),
    ('{"format": "metacore-project", "version": 1, "table": {"columns": ["a"], '
     '"data": [[1]]}, "settings": {"__class__": 1}}', "unknown setting"),
    ('{"format": "metacore-project", "version": 1, "table": {"columns": ["a"], '
     '"data": [[1]]}, "settings": {"level": 0.5}}', "'level' must be one of"),
    ('{"format": "metacore-project", "version": 1, "table": {"columns": ["a"], '
     '"data": [[1]]}, "mapping": [["a", "rm -rf"]]}', "mapping is malformed"),
    ("[" * 100_000, "not valid JSON"),
])
def test_corrupt_or_foreign_project_files_are_refused_with_the_reason(text, reason):
    with pytest.raises(mc.DataError, match=reason):
        from_json(text)


def test_project_table_size_is_limited_like_an_upload():
    from metacore.data.io import MAX_ROWS

    doc = json.loads(to_json(_project()))
    doc["table"]["data"] = [[True, "s", 1, 2, 3, 4, "g", 1, 1]] * (MAX_ROWS + 1)
    with pytest.raises(mc.DataError, match="at most"):
        from_json(json.dumps(doc))


# --- database ---------------------------------------------------------------------------

def test_save_load_versions_and_delete(db):
    aid, v = db.save(_project())
    assert v == 1 and is_valid_id(aid)
    aid2, v2 = db.save(_project("BCG, DL", tau2_method="DL"), aid)
    assert (aid2, v2) == (aid, 2)
    latest, n = db.load(aid)
    first, one = db.load(aid, 1)
    assert n == 2 and latest.settings["tau2_method"] == "DL" and latest.name == "BCG, DL"
    assert one == 1 and first.settings["tau2_method"] == "REML"
    assert [x.version for x in db.versions(aid)] == [2, 1]
    info = db.list()[0]
    assert (info.id, info.name, info.measure, info.k, info.version) == \
        (aid, "BCG, DL", "RR", 13, 2)
    db.delete(aid)
    with pytest.raises(NotFound):
        db.load(aid)
    assert db.list() == []


def test_ids_are_random_and_checked_before_any_query(db):
    ids = {db.save(_project())[0] for _ in range(20)}
    assert len(ids) == 20 and all(len(i) == 22 for i in ids)
    for bad in ("no-such-id", "../../etc/passwd", "' OR '1'='1", "x" * 400, "",
                "a" * 21 + "'"):
        with pytest.raises(NotFound, match="not a valid analysis id"):
            db.load(bad)
    with pytest.raises(NotFound, match="No saved analysis"):
        db.load("A" * 22)
    assert len(db.list()) == 20      # nothing was deleted or changed by the attempts


def test_schema_has_a_version_and_tables_are_stored_once(db):
    assert db.schema_version == 2
    aid, _ = db.save(_project())
    db.save(_project(), aid)
    db.save_draft("browser-secret-1234567890", _project())
    with db.engine.connect() as conn:
        import sqlalchemy as sa

        assert conn.execute(sa.text("select count(*) from tables")).scalar() == 1
        # the draft key is a hash: the browser's secret is not in the database
        keys = [r[0] for r in conn.execute(sa.text("select key from drafts"))]
    assert keys and "browser-secret" not in keys[0]


def test_drafts_replace_each_other_and_can_be_discarded(db):
    saved, _ = db.save(_project("saved"))
    assert db.load_draft("s" * 30) is None
    db.save_draft("s" * 30, _project("first"))
    db.save_draft("s" * 30, _project("second"), saved)
    project, aid = db.load_draft("s" * 30)
    assert project.name == "second" and aid == saved
    assert db.load_draft("t" * 30) is None
    db.discard_draft("s" * 30)
    assert db.load_draft("s" * 30) is None


def _concurrent_saves(db: Store) -> None:
    base, _ = db.save(_project("shared"))
    errors: list[BaseException] = []
    mine: dict[str, list[str]] = {}

    def worker(i: int) -> None:
        try:
            names = []
            for j in range(5):
                name = f"worker {i} save {j}"
                table = mc.datasets.load("bcg").head(3 + i)       # each worker its own table
                db.save(Project(table, {"measure": "RR", "cc": j / 10}, name=name,
                                source=f"w{i}"), None)
                db.save(Project(table, {"measure": "OR"}, name=name, source=f"w{i}"), base)
                names.append(name)
            mine[str(i)] = names
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    saved = [a for a in db.list(limit=1000) if a.id != base]
    assert len(saved) == 30                                   # nothing lost
    for a in saved:                                           # nothing mixed
        project, _ = db.load(a.id)
        i = int(a.name.split()[1])
        assert len(project.table) == 3 + i and project.source == f"w{i}"
        assert project.settings["cc"] == int(a.name.split()[-1]) / 10
    versions = db.versions(base)
    assert [v.version for v in versions] == list(range(31, 0, -1))


def test_two_sessions_saving_at_once_sqlite(db):
    _concurrent_saves(db)


def test_postgresql_saves_opens_and_takes_concurrent_saves(postgres_db):
    db = Store(postgres_db)
    assert db.schema_version == 2
    aid, _ = db.save(_project())
    project, version = db.load(aid)
    assert version == 1 and project.table.equals(_project().table)
    db.delete(aid)
    t0 = time.monotonic()
    _concurrent_saves(db)
    assert time.monotonic() - t0 < 120


def test_open_store_keeps_one_store_per_database_and_mode(tmp_path):
    from metacore.store import LOCAL, User, open_store

    url = f"sqlite:///{tmp_path / 'one.db'}"
    single, accounts = open_store(url), open_store(url, accounts=True)
    assert open_store(url) is single and open_store(url, accounts=True) is accounts
    assert not single.accounts and accounts.accounts
    aid, _ = single.save(_project())
    # the same analysis, the local owner's: reachable on a server with accounts only by
    # acting as the local owner explicitly (a logged-in user sees nothing of it)
    assert accounts.load(aid, user=LOCAL)[1] == 1
    with pytest.raises(NotFound):
        accounts.load(aid)
    with pytest.raises(NotFound):
        accounts.load(aid, user=User("https://id.example.org", "someone"))
