#!/usr/bin/env bash
# Environments in which VeRL 0.9.1's and OpenRLHF 0.11.2's own data classes load our files.
# They pin transformers versions that conflict with TRL's, so they live apart from .venv:
#   .conformance/verl       a venv with verl 0.9.1 (--no-deps) and transformers 5.10.4; it reuses
#                           .venv's torch and the rest through a .pth file (no second torch)
#   .conformance/openrlhf   openrlhf 0.11.2 (--no-deps) in a folder put on sys.path from .venv
# Idempotent: a stamp file per environment. No GPU libraries: the data classes need none.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ENVS="$ROOT/.conformance"
BASE="$ROOT/.venv"
mkdir -p "$ENVS"

if [ ! -f "$ENVS/verl/.ready" ]; then
    rm -rf "$ENVS/verl"
    python3 -m venv "$ENVS/verl"
    base_site="$("$BASE/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    verl_site="$("$ENVS/verl/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$base_site" > "$verl_site/zz_base_venv.pth"   # after the venv's own packages
    "$ENVS/verl/bin/pip" install -q --no-deps verl==0.9.1
    "$ENVS/verl/bin/pip" install -q "transformers==5.10.4" omegaconf "tensordict>=0.8,<=0.10" codetiming pybind11 \
        hydra-core dill ray pylatexenc
    "$ENVS/verl/bin/python" -c "import verl.utils.dataset.rl_dataset, verl.utils.dataset.multiturn_sft_dataset, transformers; print('verl env: transformers', transformers.__version__)"
    touch "$ENVS/verl/.ready"
fi

if [ ! -f "$ENVS/openrlhf/.ready" ]; then
    rm -rf "$ENVS/openrlhf"
    "$BASE/bin/pip" install -q --no-deps --target "$ENVS/openrlhf" openrlhf==0.11.2 pylatexenc
    touch "$ENVS/openrlhf/.ready"
fi
