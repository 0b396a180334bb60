#!/usr/bin/env bash
# Installs the real Sematic 0.41 (pinned in requirements.txt beside this file)
# into bench/peers/.venv, the peer that bench/overhead.py measures ours
# against. Does nothing when the venv already holds exactly these pins.
# PYTHON picks the interpreter (default: python3 on PATH; Sematic 0.41 needs
# 3.9 to 3.13).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
venv=$here/.venv
stamp=$venv/.requirements.txt

if [ -x "$venv/bin/python" ] && cmp -s "$here/requirements.txt" "$stamp" &&
   "$venv/bin/python" -c '' 2>/dev/null; then
    exit 0
fi

python=${PYTHON:-python3}
echo "bench/peers: installing sematic==0.41.0 into $venv (takes a minute or two)"
start=$(date +%s)
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/python" -c 'import sematic; assert sematic.__version__ == "0.41.0", sematic.__version__'
cp "$here/requirements.txt" "$stamp"
echo "bench/peers: ready in $(($(date +%s) - start)) s"
