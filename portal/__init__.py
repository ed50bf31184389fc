"""Streamlit-side helpers shared by app.py and pages/ (no Kubernetes imports here)."""
