"""Whole-review speed: reading a RevMan 5 file and analysing every outcome as its settings
ask, side by side with metafor (through Rscript, where installed) running the same fits.

A synthetic review of 300 outcomes x 20 studies (dichotomous M-H fixed, IV random DL,
Peto; continuous MD fixed; generic HR random) is written to the RevMan 5 format in memory.
metafor is timed on the fits only (it has no RevMan reader); metacore on reading plus fits
and on the fits alone.

Run: ``.venv/bin/python benchmarks/bench_review.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_of  # noqa: E402

import metacore as mc  # noqa: E402

KINDS = (("DICH", "MH", "NO", "RR"), ("DICH", "IV", "YES", "OR"),
         ("DICH", "PETO", "NO", "PETO_OR"), ("CONT", "IV", "NO", "MD"),
         ("IV", "IV", "YES", "Hazard Ratio"))


def synthetic(n_out: int = 300, k: int = 20, seed: int = 1) -> tuple[bytes, list]:
    rng = np.random.default_rng(seed)
    studies = "".join(f'<STUDY ID="S{i}" NAME="Study {i}" YEAR="2000"/>' for i in range(k))
    outs, plan = [], []
    for j in range(n_out):
        t, method, random, measure = KINDS[j % len(KINDS)]
        rows, data = [], []
        for i in range(k):
            if t == "DICH":
                n1, n2 = rng.integers(40, 400, 2)
                e1, e2 = rng.binomial(n1, 0.15), rng.binomial(n2, 0.2)
                e1, e2 = max(e1, 1), max(e2, 1)
                rows.append(f'<DICH_DATA STUDY_ID="S{i}" EVENTS_1="{e1}" TOTAL_1="{n1}" '
                            f'EVENTS_2="{e2}" TOTAL_2="{n2}"/>')
                data.append((e1, n1, e2, n2))
            elif t == "CONT":
                m1, m2 = map(float, rng.normal(10, 1, 2))
                s1, s2 = map(float, rng.uniform(2, 4, 2))
                n1, n2 = rng.integers(20, 200, 2)
                rows.append(f'<CONT_DATA STUDY_ID="S{i}" MEAN_1="{m1!r}" SD_1="{s1!r}" '
                            f'TOTAL_1="{n1}" MEAN_2="{m2!r}" SD_2="{s2!r}" TOTAL_2="{n2}"/>')
                data.append((m1, s1, n1, m2, s2, n2))
            else:
                y, se = float(rng.normal(-0.2, 0.2)), float(rng.uniform(0.05, 0.3))
                rows.append(f'<IV_DATA STUDY_ID="S{i}" EFFECT_SIZE="{float(np.exp(y))!r}" '
                            f'SE="{se!r}"/>')
                data.append((y, se))
        extra = ' LOG_DATA="YES"' if t == "IV" else f' EFFECT_MEASURE="{measure}"'
        em = f"<EFFECT_MEASURE>{measure}</EFFECT_MEASURE>" if t == "IV" else ""
        head = f'<{t}_OUTCOME ID="O{j}" NO="{j}" METHOD="{method}" RANDOM="{random}"{extra}>'
        outs.append(head + f"<NAME>Outcome {j}</NAME>{em}" + "".join(rows) + f"</{t}_OUTCOME>")
        plan.append((t, method, random, measure, data))
    xml = ("<COCHRANE_REVIEW><COVER_SHEET><TITLE>Benchmark</TITLE></COVER_SHEET>"
           f"<STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>{studies}</INCLUDED_STUDIES>"
           "</STUDIES></STUDIES_AND_REFERENCES><ANALYSES_AND_DATA><COMPARISON ID='C1' NO='1'>"
           "<NAME>A vs B</NAME>" + "".join(outs) + "</COMPARISON></ANALYSES_AND_DATA>"
           "</COCHRANE_REVIEW>")
    return xml.encode(), plan


def r_code(plan: list) -> str:
    lines = ["fits <- function() {"]
    for t, method, _random, _, data in plan:
        cols = list(zip(*data, strict=True))
        vec = [f"c({','.join(map(repr, map(float, c)))})" for c in cols]
        if t == "DICH":
            a = f"ai={vec[0]}, n1i={vec[1]}, ci={vec[2]}, n2i={vec[3]}"
            if method == "MH":
                lines.append(f"rma.mh({a}, measure='RR')")
            elif method == "PETO":
                lines.append(f"rma.peto({a})")
            else:
                lines.append(f"rma(measure='OR', {a}, method='DL')")
        elif t == "CONT":
            lines.append(f"rma(measure='MD', m1i={vec[0]}, sd1i={vec[1]}, n1i={vec[2]}, "
                         f"m2i={vec[3]}, sd2i={vec[4]}, n2i={vec[5]}, method='FE')")
        else:
            lines.append(f"rma(yi={vec[0]}, sei={vec[1]}, method='DL')")
    lines.append("}")
    lines.append("cat(min(replicate(3, system.time(fits())[['elapsed']])), '\\n')")
    return "suppressMessages(library(metafor))\n" + "\n".join(lines) + "\n"


def metafor_seconds(code: str) -> float | None:
    if not shutil.which("Rscript"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(code)
    out = subprocess.run(["Rscript", f.name], capture_output=True, text=True, timeout=1800)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None



def main() -> None:
    data, plan = synthetic()
    print(f"machine: 2 cores; best of 3; a review of {len(plan)} outcomes x 20 studies "
          f"({len(data) / 2**20:.1f} MB of RevMan 5 XML)\n")
    read = best_of(lambda: mc.read_revman(data), n=3)
    rev = mc.read_revman(data)
    fits = best_of(lambda: [o.analyse() for o in rev.outcomes], n=3)
    print(f"metacore: read {read:.3f} s, analyse every outcome {fits:.3f} s "
          f"({1e3 * fits / len(plan):.2f} ms per outcome)")
    r = metafor_seconds(r_code(plan))
    if r is not None:
        print(f"metafor:  the same {len(plan)} fits {r:.3f} s; ratio metafor / metacore "
              f"(fits) {r / fits:.2f}x, (read + fits) {r / (read + fits):.2f}x")


if __name__ == "__main__":
    main()
