"""RevMan 5 files and Cochrane data packages: read right, refused when hostile.

The .rm5 files are ours, written to RevMan 5's format by tests/reference/make_revman_files.py
from the data of tests/reference/make_review.R (metafor 3.8-1 values beside them)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

import metacore as mc
from metacore.data import revman
from metacore.data.revman import RevManError, parse_data_package, parse_revman

REF = Path(__file__).parent / "reference"
FULL = REF / "revman" / "review_full.rm5"
SMALL = REF / "revman" / "review_small.rm5"
DATA = json.loads((REF / "review_reference.json").read_text())


def test_full_file_structure():
    f = parse_revman(FULL)
    assert f.title.startswith("Corticosteroids for community-acquired pneumonia")
    assert [s.name for s in f.studies] == [s["name"] for s in DATA["studies"]]
    assert [s.year for s in f.studies][:2] == ["1998", "2003"]
    assert [o.type for o in f.outcomes] == ["DICH"] * 4 + ["CONT"] * 2 + ["IV", "IPD", "IV"]
    o = f.outcomes[1]
    assert o.subgroups == ("Adults", "Children") and o.random and o.method == "IV"
    assert [r["subgroup"] for r in o.rows] == ["Adults"] * 3 + ["Children"] * 2
    assert o.group_labels == ("Steroid", "Placebo")
    assert o.graph_labels == ("Favours steroid", "Favours placebo")
    ipd = f.outcomes[7]
    assert ipd.rows[0]["O_E"] == -4.2 and ipd.rows[0]["VAR"] == 18.5
    iv = f.outcomes[6]
    assert iv.log_data and iv.measure == "Hazard Ratio" and iv.rows[1]["SE"] == 0.20
    assert f.outcomes[0].stored["estimate"] == pytest.approx(0.651535, abs=1e-6)
    assert "estimate" not in f.outcomes[5].stored   # the SMD outcome stores no totals
    assert len(f.items) == 7 and f.items[3].level == "GROUP"
    assert f.items[0].entries[4][1] == "NO"


def test_small_file_without_subgroups_or_rob():
    rev = mc.read_revman(SMALL.read_bytes())
    assert len(rev.outcomes) == 1 and rev.outcomes[0].subgroups == () and rev.rob == ()
    assert "subgroup" not in rev.outcomes[0].table.columns


def test_rob_items_become_rob1():
    rev = mc.read_revman(FULL)
    by = {a.study_id: a for a in rev.rob}
    assert all(a.tool == "rob1" for a in rev.rob) and len(rev.rob) == 6
    evans = by["STD-Evans-2019"]
    assert [d.level for d in evans.domains] == ["High", "High", "High", "High", "Unclear",
                                                "Low", "Low"]
    # Diaz: outcome assessment low for objective outcomes, high for subjective: worst kept
    assert by["STD-Diaz-2015"].domains[3].level == "High"
    assert by["STD-Adams-1998"].overall.level == "Low"
    assert "judged" in by["STD-Adams-1998"].domains[0].support


# --- hostile, damaged and foreign files ---------------------------------------------------

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<COCHRANE_REVIEW><COVER_SHEET><TITLE>&lol2;</TITLE></COVER_SHEET></COCHRANE_REVIEW>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<COCHRANE_REVIEW><COVER_SHEET><TITLE>&xxe;</TITLE></COVER_SHEET></COCHRANE_REVIEW>"""


@pytest.mark.parametrize("data, words", [
    (BOMB, "document type"),
    (EXTERNAL, "document type"),
    (FULL.read_bytes()[:5000], "truncated"),
    (b"<!DOCTYPE html><html><body>Not found</body></html>", "web page"),
    (b"<html><head></head><body>login</body></html>", "web page"),
    (b"<?xml version='1.0'?><svg></svg>", "<svg>"),
    (b"", "empty"),
    (b"\x00\x01\x02 binary", "XML"),
    (b"PK\x03\x04 zipped", "zip"),
])
def test_hostile_or_foreign_files_are_refused(data, words):
    with pytest.raises(RevManError, match=words) as err:
        mc.read_revman(data) if words != "zip" else parse_revman(data)
    assert isinstance(err.value, ValueError) and isinstance(err.value, mc.DataError)


def test_entity_declaration_without_dtd_check_is_still_refused(monkeypatch):
    # with DTDs allowed, the entity declaration itself is refused
    from defusedxml import ElementTree as SafeET
    with pytest.raises(Exception, match="Entit"):
        SafeET.fromstring(BOMB, forbid_dtd=False, forbid_entities=True)


def test_ten_thousand_outcomes_refused():
    outs = "".join(f'<DICH_OUTCOME ID="o{i}" NO="{i}"><NAME>x</NAME></DICH_OUTCOME>'
                   for i in range(10_000))
    data = (f"<COCHRANE_REVIEW><ANALYSES_AND_DATA><COMPARISON ID='c' NO='1'>{outs}"
            "</COMPARISON></ANALYSES_AND_DATA></COCHRANE_REVIEW>").encode()
    with pytest.raises(RevManError, match="10,000 analyses"):
        mc.read_revman(data)


def test_oversized_file_refused(monkeypatch, tmp_path):
    monkeypatch.setitem(revman.LIMITS, "bytes", 1000)
    with pytest.raises(RevManError, match="at most 0 MB"):
        mc.read_revman(FULL.read_bytes())
    with pytest.raises(RevManError, match="MB"):
        mc.read_revman(FULL)


def test_row_for_unknown_study_and_bad_number_named():
    text = SMALL.read_text().replace('STUDY_ID="STD-Brown-2003"', 'STUDY_ID="STD-Nobody"', 1)
    with pytest.raises(RevManError, match="STD-Nobody"):
        mc.read_revman(text.encode())
    text = SMALL.read_text().replace('EVENTS_1="8"', 'EVENTS_1="eight"', 1)
    with pytest.raises(RevManError, match="Brown-2003.*EVENTS_1.*eight"):
        mc.read_revman(text.encode())


# --- the Cochrane data package -------------------------------------------------------------

def _package(rows: str, overall: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("CD000001/Analysis data/CD000001 data rows.csv", rows)
        z.writestr("CD000001/Analysis data/CD000001 overall estimates and settings.csv", overall)
    return buf.getvalue()


def test_data_package_reads_as_the_rm5():
    o = DATA["outcomes"]["CMP-001.01"]
    names = {s["id"]: s["name"] for s in DATA["studies"]}
    rows = "Analysis group,Analysis number,Analysis name,Study,Experimental cases," \
           "Experimental N,Control cases,Control N\n" + "".join(
               f"1,1,Death,{names[r['study']]},{r['ai']},{r['n1i']},{r['ci']},{r['n2i']}\n"
               for r in o["data"])
    overall = "Analysis group,Analysis number,Analysis name,Analysis group name,Data type," \
              "Statistical method,Effect measure,Analysis model,Study CI,Estimate CI,Mean\n" \
              "1,1,Death,Steroid vs placebo,Dichotomous,Mantel-Haenszel,Risk Ratio," \
              "Fixed-effect,95%,95%,0.6515\n"
    rev = mc.read_revman(_package(rows, overall))
    out = rev.outcomes[0]
    assert (out.name, out.measure, out.method, out.model) == ("Death", "RR", "MH", "common")
    assert out.analyse().estimate == pytest.approx(o["estimate"], abs=1e-12)
    assert out.stored.estimate == 0.6515


def test_data_package_generic_ratios_are_log_scale():
    # the package's "GIV Mean" of a log-scale analysis is the log hazard ratio itself
    o = DATA["outcomes"]["CMP-002.01"]
    names = {s["id"]: s["name"] for s in DATA["studies"]}
    rows = "Analysis group,Analysis number,Study,GIV Mean,GIV SE\n" + "".join(
        f"2,1,{names[r['study']]},{r['yi']!r},{r['sei']!r}\n" for r in o["data"])
    overall = "Analysis group,Analysis number,Analysis name,Data type,Log-scale data," \
              "Statistical method,Effect measure,Analysis model\n" \
              "2,1,Time to relapse,Generic inverse variance,TRUE,Inverse variance," \
              "Hazard Ratio,Random-effects\n"
    out = mc.read_revman(_package(rows, overall)).outcomes[0]
    assert (out.kind, out.scale, out.label, out.model) == ("generic", "log", "HR", "random")
    res = out.analyse()
    assert res.estimate == pytest.approx(o["estimate"], abs=1e-12)
    assert res.tau2 == pytest.approx(o["tau2"], abs=1e-12)


def test_zip_bomb_refused_before_extraction():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x data rows.csv", b"0" * (30 * 2**20))
    with pytest.raises(RevManError, match="zip bomb"):
        parse_data_package(buf.getvalue())


def test_zip_without_data_rows_and_not_a_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(RevManError, match="data rows"):
        parse_data_package(buf.getvalue())
    with pytest.raises(RevManError, match="zip"):
        parse_data_package(b"not a zip at all")


def test_damaged_files_never_escape_as_tracebacks():
    # 80 seeded damages of the full file: bytes flipped, cut short, attribute values
    # replaced by nonsense, chunks removed. Each one reads, or is refused with RevManError;
    # whatever reads can be analysed (or says why not) and saved.
    import random
    import re

    data = FULL.read_bytes()
    text = data.decode()
    values = list(re.finditer(r'="([^"]*)"', text))
    rng = random.Random(25)
    for i in range(80):
        if i % 4 == 0:
            b = bytearray(data)
            for _ in range(rng.randint(1, 5)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            damaged = bytes(b)
        elif i % 4 == 1:
            damaged = data[:rng.randrange(len(data))]
        elif i % 4 == 2:
            m = rng.choice(values)
            new = rng.choice(["", "-1", "abc", "1e400", "nan", "0", "200", "YES"])
            damaged = (text[:m.start(1)] + new + text[m.end(1):]).encode()
        else:
            a = rng.randrange(len(data))
            damaged = data[:a] + data[a + rng.randint(1, 200):]
        try:
            rev = mc.read_revman(damaged)
        except RevManError as err:
            assert str(err)
            continue
        for o in rev.outcomes:
            try:
                o.analyse()
            except mc.MetacoreError as err:
                assert o.name in str(err) or str(err)
        assert mc.review_from_json(mc.review_to_json(rev)) == rev
