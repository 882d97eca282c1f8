"""Shared Streamlit helpers for the dashboard pages (state, controls, cached analysis)."""
