#!/usr/bin/env bash
# The demo: generate a synthetic Dutch cohort, build features, train and register a model, promote
# it if it passes the gates, score the current year, open review cases, run monitoring, create one
# demo key per role, and serve. Everything lands under $RISKSCORE_HOME (default .riskscore).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export RISKSCORE_HOME=${RISKSCORE_HOME:-$PWD/.riskscore}
# demo only: imports may use the public demo pseudonym key (synthetic pupils, never real ones)
export RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS=1
STUDENTS=${DEMO_STUDENTS:-20000}
PORT=${PORT:-8000}
DATA=$RISKSCORE_HOME/data
mkdir -p "$RISKSCORE_HOME"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/8 synthetic cohort: $STUDENTS students, 6 school years (2019-20 … 2024-25)"
$BIN/riskscore synth --students "$STUDENTS" --years 6 --first-year 2019-20 --seed 7 --out "$DATA"

step "2/8 point-in-time features"
$BIN/riskscore features --data "$DATA" --out "$DATA/features.parquet"

step "3/8 train, evaluate, audit, register (alias challenger)"
$BIN/riskscore train --config training/config.yaml --data "$DATA"

step "4/8 promote to champion (only if it beats the baselines and passes the fairness gates)"
if ! $BIN/riskscore promote; then
  echo "The challenger failed a gate (see above and the model card). For the demo only, it is promoted with a logged override."
  $BIN/riskscore promote --force --reason "demo on synthetic data: gate failure reviewed in the model card"
fi

step "5/8 batch scoring of the current year (2024-25, as of 1 May 2025) and review cases"
$BIN/riskscore score --data "$DATA" --as-of 2025-05-01

step "6/8 monitoring pass: the current scores against the champion's reference snapshot"
$BIN/riskscore monitor --config monitoring/config.yaml || echo "(monitoring found breaches: see the list above)"

if [ "${DEMO_CYCLE:-1}" = "1" ] && [ -x scripts/cycle.sh ]; then
  step "6b/8 one full loop: drift in a later year → retrain → promote → score → monitor (DEMO_CYCLE=0 skips)"
  scripts/cycle.sh
fi

step "7/8 demo API keys (shown once)"
: > "$RISKSCORE_HOME/demo-keys.txt"
school=$($BIN/python -c "import pandas as pd; s=pd.read_parquet('$DATA/students.parquet'); print(s[s.school_year==s.school_year.max()].school_id.value_counts().index[0])")
region=$($BIN/python -c "import pandas as pd; s=pd.read_parquet('$DATA/students.parquet'); print(s[s.school_id=='$school'].rmc_region.iloc[0])")
gm=$($BIN/python -c "import pandas as pd; s=pd.read_parquet('$DATA/students.parquet'); print(s[s.school_id=='$school'].municipality.iloc[0])")
for spec in "school school:$school" "jeugdarts rmc_region:$region" "leerplicht municipality:$gm" "rmc rmc_region:$region" "data_team all" "admin all"; do
  set -- $spec
  key=$($BIN/riskscore keys create --role "$1" --scope "$2" --label "demo-$1" 2>/dev/null)
  printf '%-11s %-28s %s\n' "$1" "$2" "$key" | tee -a "$RISKSCORE_HOME/demo-keys.txt"
done

step "8/8 serving on http://127.0.0.1:$PORT"
echo "worklist: http://127.0.0.1:$PORT/  (sign in with a key above; keys saved in $RISKSCORE_HOME/demo-keys.txt)"
echo "API docs: http://127.0.0.1:$PORT/docs"
exec $BIN/riskscore serve --host 127.0.0.1 --port "$PORT"
