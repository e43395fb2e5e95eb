#!/usr/bin/env bash
# The checks and figures that need a GPU, in one run on a lent CUDA machine (README: "On a GPU").
#
#   bash bench/gpu_check.sh [SECONDS] [CORPUS]    # SECONDS: the whole run's budget (default 560)
#
# 1. the machine: GPU, driver, torch, CPU kernel path;
# 2. notebooks 10 and 11 under strict nbval, in the background (they train on the CPU by design: tiny models);
# 3. notebook 12 under strict nbval, alone on the GPU (`pick_device("auto")` trains it on CUDA);
# 4. the unit tests on this machine's torch, in the background on four CPU workers;
# 5. Tatoeba with the `base` preset on CUDA for what the budget leaves after a reserve for scoring, then test
#    BLEU (greedy and beam 4) and the everyday sentences (bench/translator.py tatoeba).
# Logs and JSON go to $OUT (default build/gpu); DEVICE=cpu PRESET=tiny make a dry run without a GPU. Packages the
# machine lacks (nbval and the Jupyter kernel, on a bare GPU image) can be installed beforehand, e.g.
# `pip install --target /tmp/site .whl/*.whl` with PYTHONPATH=/tmp/site (README: the run recorded there).
set -u
START=$SECONDS
BUDGET=${1:-560}
CORPUS=${2:-../shared/data/tatoeba-cmn-eng.tsv}
RESERVE=150  # seconds kept for scoring the Tatoeba model (three evaluations on the GPU) and the summary
OUT=${OUT:-build/gpu}
DEVICE=${DEVICE:-cuda}
PRESET=${PRESET:-base}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
unset MPLBACKEND

NBVAL=(python3 -m pytest -q -p no:cacheprovider --nbval --nbval-current-env  # strict nbval, as make test-notebooks
       --nbval-sanitize-with=notebooks/nbval_sanitize.cfg --nbval-cell-timeout=600 --durations=3)

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -c "import sys, torch; print('python', sys.version.split()[0], '| torch', torch.__version__, '| CUDA',
torch.version.cuda, '| bf16', torch.cuda.is_bf16_supported(), '| CPU kernels', torch.backends.cpu.get_cpu_capability())"
    nproc
} >"$OUT/machine.txt" 2>&1

left() { echo $((BUDGET - (SECONDS - START))); }  # seconds of the budget left
timeout "$(left)" "${NBVAL[@]}" notebooks/10_transformer.ipynb >"$OUT/nb10.log" 2>&1 &
nb10=$!
timeout "$(left)" "${NBVAL[@]}" notebooks/11_mla.ipynb >"$OUT/nb11.log" 2>&1 &
nb11=$!
timeout "$(left)" "${NBVAL[@]}" notebooks/12_translator.ipynb >"$OUT/nb12.log" 2>&1
echo "notebook 12: exit $? after $((SECONDS - START)) s" >>"$OUT/summary.txt"
timeout "$(left)" python3 -m pytest tests -q -p no:cacheprovider --ignore=tests/editions -n 4 >"$OUT/tests.log" 2>&1 &
tests=$!

minutes=$(python3 -c "print(round(min(10, max(1, ($(left) - $RESERVE) / 60)), 2))")
echo "Tatoeba: $PRESET preset on $DEVICE, $minutes minutes of training from $((SECONDS - START)) s" >>"$OUT/summary.txt"
timeout $(($(left) - 10)) python3 bench/translator.py tatoeba --corpus "$CORPUS" --device "$DEVICE" --preset "$PRESET" \
    --minutes "$minutes" --eval-every 500 --beam >"$OUT/tatoeba.log" 2>&1
echo "Tatoeba: exit $? after $((SECONDS - START)) s" >>"$OUT/summary.txt"

wait $nb10; echo "notebook 10: exit $?" >>"$OUT/summary.txt"
wait $nb11; echo "notebook 11: exit $?" >>"$OUT/summary.txt"
wait $tests; echo "unit tests: exit $?" >>"$OUT/summary.txt"
cat "$OUT/machine.txt" "$OUT/summary.txt"
tail -n 3 "$OUT"/nb1?.log "$OUT/tests.log"
tail -n 60 "$OUT/tatoeba.log"
