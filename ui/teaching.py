"""What the course notes and the app say the same way on every page: the names of the three
models, the terminology note, and the decomposition Z² = Z_F² + Q."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import metacore as mc

#: The one wording of the three models, after the summary table of doc 002 (used on the
#: Pooling & shrinkage and About pages alike).
TERMS = pd.DataFrame({"Common effect": ["β₀", "none (assumed 0)", "Unrealistic"],
                      "Fixed effects": ["β_F", "ζ²", "Just right!"],
                      "Random effects": ["μ", "τ²", "Sensitive"]},
                     index=["Estimate", "Spread", "Problems?"])

TERMS_NOTE = (
    "**Names.** This app calls the model with one true effect the **common effect** model "
    "(β₀). Doc 000 calls the same calculation \"fixed-effects\"; doc 002 keeps "
    "**fixed effects** (plural, β_F) for a different reading of the same number — the "
    "precision-weighted average of the studies' own effects, with spread ζ² — and "
    "**random effects** (μ, τ²) for the mean of a distribution of effects. The model "
    "selector, forest plot and tables say \"common effect\" and \"random effects\"; "
    "\"fixed effects\" appears only where β_F and ζ² are meant.")


def terms_table() -> None:
    """The three models side by side, with where the table comes from."""
    st.table(TERMS)
    st.caption("After the summary table of the course notes on Bayesian meta-analysis "
               "(doc 002).")
    st.markdown(TERMS_NOTE)


def z_decomposition(fit: mc.PoolResult) -> None:
    """Z² = Z_F² + Q with each term defined and its value on the current data."""
    st.latex(r"Z^2=\sum_i \frac{y_i^2}{v_i}\;=\;\underbrace{\hat\beta_F^2\sum_i v_i^{-1}}_"
             r"{Z_F^2}\;+\;\underbrace{\sum_i \frac{(y_i-\hat\beta_F)^2}{v_i}}_{Q}")
    st.caption(
        f"Z² = {fit.z2_total:.4g}: how far all studies together are from no effect. "
        f"Z_F² = {fit.z2_fixed:.4g}: the part explained by one shared β_F (the squared z "
        f"statistic of the common-effect estimate). Q = {fit.q:.4g}: what is left, the "
        "studies' disagreement with each other (heterogeneity).")
