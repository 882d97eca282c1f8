"""Whole reviews in the store: kind "review", versions, links, drafts, and the rename of
the outcome-direction setting (saved projects that carry "outcome" still open)."""

from __future__ import annotations

import pandas as pd
import pytest

import metacore as mc
from metacore.store import Store, User
from metacore.store.database import REVIEW, NotFound
from metacore.store.project import Project, from_json, to_json


def _review() -> mc.Review:
    rev = mc.Review("Steroids for sepsis").add_study("Adams 1998").add_study("Baker 2003")
    rev = rev.add_comparison("Steroid vs placebo")
    o = mc.Outcome("", "Death", "binary", "RR", method="MH")
    rev = rev.add_outcome("CMP-001", o)
    frame = {"study": ["Adams 1998", "Baker 2003"], "events_t": [4, 10], "n_t": [50, 80],
             "events_c": [9, 15], "n_c": [50, 82]}
    return rev.with_table(rev.outcomes[0].id, pd.DataFrame(frame))


def test_review_saves_as_its_own_kind_with_versions_and_round_trips():
    db = Store("sqlite://")
    rev = _review()
    rid, v1 = db.save_review(rev)
    rid2, v2 = db.save_review(rev.rename_study("STD-001", "Adams 1999"), rid)
    assert (rid2, v1, v2) == (rid, 1, 2)
    back, got = db.load_review(rid)
    assert got == 2 and back.studies[0].name == "Adams 1999"
    assert back.outcomes[0].table["study"].tolist() == ["Adams 1999", "Baker 2003"]
    first, _ = db.load_review(rid, 1)
    assert mc.review_to_json(first) == mc.review_to_json(rev)
    infos = db.list(kind=REVIEW)
    assert [(i.id, i.k, i.kind) for i in infos] == [(rid, 1, "review")]
    assert db.list() == []                   # not among the analyses
    with pytest.raises(mc.OptionError, match="whole review"):
        db.load(rid)                         # an analysis open of a review id


def test_review_opens_by_read_only_link_and_owner_rules_hold():
    db = Store("sqlite://", accounts=True)
    alice = User("https://id.example.org", "a1", "Alice", "alice@example.org")
    bob = User("https://id.example.org", "b2", "Bob", "bob@example.org")
    rid, _ = db.save_review(_review(), user=alice)
    with pytest.raises(NotFound):
        db.load_review(rid, user=bob)
    _, token = db.create_link(rid, user=alice)
    back, version = db.load_review(token=token, user=bob)
    assert back.title == "Steroids for sepsis" and version == 1
    aid, _ = db.save(Project(mc.datasets.load("bcg"), {"measure": "RR"}), user=alice)
    with pytest.raises(mc.OptionError, match="single analysis"):
        db.load_review(aid, user=alice)


def test_review_draft_is_kept_beside_the_analysis_draft():
    db = Store("sqlite://")
    secret = "s" * 24
    db.save_draft(secret, Project(mc.datasets.load("bcg"), {"measure": "OR"}))
    db.save_review_draft(secret, _review())
    review, rid = db.load_review_draft(secret)
    project, _ = db.load_draft(secret)
    assert review.title == "Steroids for sepsis" and rid is None
    assert project.settings == {"measure": "OR"}


def test_saved_projects_with_the_old_outcome_key_open_as_direction():
    doc = Project(mc.datasets.load("bcg"), {"measure": "RR", "direction": "desirable"})
    old = to_json(doc).replace('"direction"', '"outcome"')
    assert from_json(old).settings == {"measure": "RR", "direction": "desirable"}
