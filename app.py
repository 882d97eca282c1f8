"""metacore dashboard: the frame (page config, navigation, state set-up); pages do the work.

Each page starts with ``ui.page.setup()``, which draws the shared sidebar controls
(``ui/controls.py``), so a page also runs on its own (and under ``AppTest``).
"""

from pathlib import Path

import streamlit as st

from ui import accounts, state

# A local favicon: an icon name would make the browser fetch it from another host.
st.set_page_config(page_title="metacore · meta-analysis",
                   page_icon=str(Path(__file__).parent / "ui" / "assets" / "favicon.png"),
                   layout="wide")
state.init()
state.persist_widgets()
if not accounts.account_bar():      # accounts mode: log in first (unless a read-only link)
    st.stop()

st.navigation({
    "Analysis": [
        st.Page("pages/review.py", title="Review", icon=":material/library_books:"),
        st.Page("pages/forest.py", title="Forest & heterogeneity", icon=":material/forest:",
                default=True),
        st.Page("pages/data.py", title="Data", icon=":material/table:"),
        st.Page("pages/report.py", title="Summary of findings & report",
                icon=":material/summarize:"),
        st.Page("pages/saved.py", title="Saved analyses", icon=":material/bookmarks:"),
    ],
    "Explore": [
        st.Page("pages/sensitivity.py", title="Estimators & sensitivity",
                icon=":material/balance:"),
        st.Page("pages/subgroups.py", title="Subgroups & meta-regression",
                icon=":material/account_tree:"),
        st.Page("pages/smallstudy.py", title="Small-study effects & influence",
                icon=":material/filter_alt:"),
        st.Page("pages/mantra.py", title="Clustered heterogeneity (MANTRA)",
                icon=":material/hub:"),
        st.Page("pages/shrinkage.py", title="Pooling & shrinkage", icon=":material/compress:"),
        st.Page("pages/bayes.py", title="Bayesian", icon=":material/psychology:"),
        st.Page("pages/network.py", title="Network meta-analysis", icon=":material/lan:"),
        st.Page("pages/dependence.py", title="Dependence", icon=":material/stacks:"),
    ],
    "Causal": [
        st.Page("pages/causal.py", title="Classical vs causal",
                icon=":material/compare_arrows:"),
        st.Page("pages/many.py", title="Many meta-analyses", icon=":material/scatter_plot:"),
        st.Page("pages/simulation.py", title="Causal simulation", icon=":material/science:"),
        st.Page("pages/about.py", title="About & methods", icon=":material/menu_book:"),
        st.Page("pages/course.py", title="Course notes", icon=":material/school:"),
    ],
}).run()
