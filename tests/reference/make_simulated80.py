"""Writes metacore/data/datasets/simulated80.csv: 80 synthetic trials (fixed seed).

Used to check that the forest plot and the app stay readable and fast at k = 80.
Run from the repository root: ``python tests/reference/make_simulated80.py``.
"""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261121)
k = 80
n_t = rng.integers(30, 600, k)
n_c = (n_t * rng.uniform(0.8, 1.25, k)).astype(int)
base = rng.uniform(0.05, 0.35, k)
logrr = rng.normal(-0.25, 0.3, k)
p_t = np.clip(base * np.exp(logrr), 0.005, 0.95)
e_t = rng.binomial(n_t, p_t)
e_c = rng.binomial(n_c, base)
pd.DataFrame({"study": [f"Trial {i:02d}" for i in range(1, k + 1)], "events_t": e_t,
              "n_t": n_t, "events_c": e_c, "n_c": n_c}).to_csv(
    "metacore/data/datasets/simulated80.csv", index=False)
