#!/usr/bin/env bash
# Environments in which VeRL 0.9.1's and OpenRLHF 0.11.2's own data classes load our files.
# They pin transformers versions that conflict with TRL's, so they live apart from .venv:
#   .conformance/verl       a venv with verl 0.9.1 (--no-deps) and transformers 5.10.4; it reuses
#                           .venv's torch and the rest through a .pth file (no second torch)
#   .conformance/openrlhf   openrlhf 0.11.2 (--no-deps) in a folder put on sys.path from .venv
#   .conformance/nemo_gym   a Python >= 3.12 venv with openai and pydantic as NeMo Gym 0.4.0's uv.lock pins them,
#                           and, in src/, NeMo Gym's converter (nemo_gym/responses_converter.py and the
#                           openai_utils.py it imports) taken from the nemo-gym 0.4.0 wheel, checked by sha256
# Idempotent: a stamp file per environment. No GPU libraries: the data classes need none.
# Usage: setup_envs.sh [verl] [openrlhf] [nemo_gym]   (no argument: all of them)
# CONFORMANCE_ENVS overrides where they are built (default: .conformance beside the checkout).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ENVS="${CONFORMANCE_ENVS:-$ROOT/.conformance}"
BASE="$ROOT/.venv"
mkdir -p "$ENVS"
WANTED=" ${*:-verl openrlhf nemo_gym} "
wanted() { [[ "$WANTED" == *" $1 "* ]]; }

if wanted verl && [ ! -f "$ENVS/verl/.ready" ]; then
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

if wanted openrlhf && [ ! -f "$ENVS/openrlhf/.ready" ]; then
    rm -rf "$ENVS/openrlhf"
    "$BASE/bin/pip" install -q --no-deps --target "$ENVS/openrlhf" openrlhf==0.11.2 pylatexenc
    touch "$ENVS/openrlhf/.ready"
fi

# NeMo Gym's own Responses-to-chat converter, the oracle of tests/conformance/test_nemo_gym_converter.py.
# The registry serves nemo-gym up to 0.4.0; the wheel is checked by its sha256 and only two files are
# taken from it (never committed). Their other import, nemo_gym.server_utils (aiohttp, ray, fastapi), is
# stubbed by check_nemo_gym.py: the converter does not use it.
NEMO_GYM_VERSION=0.4.0
NEMO_GYM_WHEEL_SHA256=955f08027a2f01a1c6e0e3c5da0820c330fee0307754d59ba2517f5ad89cea6e
if wanted nemo_gym && [ ! -f "$ENVS/nemo_gym/.ready" ]; then
    rm -rf "$ENVS/nemo_gym"
    python=""
    for candidate in "${NEMO_GYM_PYTHON:-}" python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[23]*/bin/python3; do
        if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
            python="$candidate"; break
        fi
    done
    if [ -z "$python" ]; then
        echo "nemo_gym env: NeMo Gym needs Python >= 3.12; none found (set NEMO_GYM_PYTHON)" >&2; exit 1
    fi
    "$python" -m venv "$ENVS/nemo_gym"
    "$ENVS/nemo_gym/bin/pip" install -q "openai==2.7.2" "pydantic==2.13.4"
    wheels="$(mktemp -d)"
    "$ENVS/nemo_gym/bin/pip" download -q --no-deps --python-version 3.12 -d "$wheels" "nemo-gym==$NEMO_GYM_VERSION"
    wheel="$wheels/nemo_gym-$NEMO_GYM_VERSION-py3-none-any.whl"
    echo "$NEMO_GYM_WHEEL_SHA256  $wheel" | sha256sum -c --quiet -
    "$ENVS/nemo_gym/bin/python" - "$wheel" "$ENVS/nemo_gym/src" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in ("nemo_gym/responses_converter.py", "nemo_gym/openai_utils.py"):
        wheel.extract(name, sys.argv[2])
PY
    rm -rf "$wheels"
    echo "$NEMO_GYM_VERSION" > "$ENVS/nemo_gym/.ready"
fi
