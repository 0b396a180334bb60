"""The real Sematic 0.41 that bench/overhead.py compares with: setup.sh installs it
into .venv here; server.py starts its API server for its LocalRunner."""
