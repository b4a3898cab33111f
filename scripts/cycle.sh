#!/usr/bin/env bash
# One full monitoring loop, on top of the demo (needs a champion: run scripts/demo.sh first):
#   the population changed (a new data delivery, e.g. after regions joined, has 30 % more pupils toward mbo entree/level 2)
#   → score the later year with the champion → monitor: breach (exit 10) with a to-do list
#   → retrain on the current data → promote (scripts/promote-challenger.sh: a recorded review if the fairness gate is inconclusive; never a failed one)
#   → score the same year with the new champion → monitor against the new reference
#   → the live store: the live data rescored with the champion that now serves, and monitored.
#
# The loop's cohort is another synthetic cohort whose pupils carry the same ids (S000001, …) as the live
# one's, so it runs in its own scratch home, $RISKSCORE_HOME/data-cycle: its own database, raw data, scored
# frames and training output. Only the MLflow registry and the reports folder are the live home's: the
# retrained model is promoted for real (the promotion is audited in the live store) and the reports show
# on /monitoring. The scratch home is removed at the end (CYCLE_KEEP=1 keeps it; either way
# `riskscore privacy erase` reaches it: "data-cycle" is a registered scratch home, store/erasure.py).
#
# After a new champion, the live store is rescored as of the same date with it, so the pages, the API
# (which scores with the champion) and /model speak of one model and one cohort; the newest monitoring
# report is then the live run's against the new champion's reference.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export RISKSCORE_HOME=${RISKSCORE_HOME:-$PWD/.riskscore}
mkdir -p "$RISKSCORE_HOME"
LIVE=$(cd "$RISKSCORE_HOME" && pwd)
SCRATCH=$LIVE/data-cycle
DATA=$SCRATCH/data
LIVE_DATA=${CYCLE_LIVE_DATA:-${RISKSCORE_DATA_DIR:-$LIVE/data}}
STUDENTS=${CYCLE_STUDENTS:-${DEMO_STUDENTS:-20000}}
SEED=${CYCLE_SEED:-8}
AS_OF=${CYCLE_AS_OF:-2026-05-01}     # demo.sh passes the live run's date (today)
YEARS=${CYCLE_YEARS:-7}
FIRST_YEAR=${CYCLE_FIRST_YEAR:-2019-20}
# the registry and the reports stay the live home's (settings' own defaults, unless set)
TRACKING=${RISKSCORE_MLFLOW_TRACKING_URI:-sqlite:///$LIVE/mlflow.db}
ARTIFACTS=${RISKSCORE_MLFLOW_ARTIFACT_ROOT:-$LIVE/mlartifacts}
REPORTS=${RISKSCORE_REPORTS_DIR:-$LIVE/reports}
export RISKSCORE_MLFLOW_TRACKING_URI=$TRACKING RISKSCORE_MLFLOW_ARTIFACT_ROOT=$ARTIFACTS RISKSCORE_REPORTS_DIR=$REPORTS
# the loop's own home: never the live database or data, whatever the environment says
IN_CYCLE=(env -u RISKSCORE_BUNDLE_PATH -u RISKSCORE_DATA_DIR RISKSCORE_HOME="$SCRATCH"
          RISKSCORE_DATABASE_URL="sqlite:///$SCRATCH/riskscore.db")
step() { printf '\n\033[1m-- cycle %s\033[0m\n' "$*"; }

# Runs `riskscore monitor` (in the loop's home with "cycle", else in the live home); exit 0 (ok) and 10
# (breach) are verdicts, anything else is an error.
monitor() {
  local rc=0
  if [ "$1" = "cycle" ]; then
    "${IN_CYCLE[@]}" "$BIN/riskscore" monitor --config monitoring/config.yaml --outcomes "$DATA/outcomes.parquet" || rc=$?
  else
    "$BIN/riskscore" monitor --config monitoring/config.yaml || rc=$?
  fi
  case $rc in
    0)  echo "monitoring: no alert / geen alarm" ;;
    10) echo "monitoring: BREACH (exit 10) — see 'what to do' above / zie 'wat te doen' hierboven" ;;
    *)  echo "monitoring failed (exit $rc)" >&2; exit "$rc" ;;
  esac
  MONITOR_RC=$rc
}

rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"

step "1/7 new data delivery (scratch home $SCRATCH): $STUDENTS students per year, $YEARS school years from $FIRST_YEAR, a population with 30 % of pupils shifted toward mbo-1/2 (all years)"
"${IN_CYCLE[@]}" "$BIN/riskscore" synth --students "$STUDENTS" --years "$YEARS" --first-year "$FIRST_YEAR" \
  --seed "$SEED" --mix-shift 0.3 --mix-from "$FIRST_YEAR" --out "$DATA"

step "2/7 score as of $AS_OF with the current champion (into the scratch home's own store)"
"${IN_CYCLE[@]}" "$BIN/riskscore" score --data "$DATA" --as-of "$AS_OF"

step "3/7 monitor: the champion's reference snapshot against this run"
monitor cycle
FIRST_RC=$MONITOR_RC

step "4/7 retrain on the current data (the new population in every fold), register as challenger, promote"
"${IN_CYCLE[@]}" "$BIN/riskscore" train --config training/config.yaml --data "$DATA"
# the promotion changes what the live service scores with: it is recorded in the live store's audit log
if ! BIN=$BIN scripts/promote-challenger.sh "demo retrain cycle on synthetic data"; then
  echo "The retrained model is not promoted; the previous champion keeps scoring."
fi

step "5/7 score as of $AS_OF again, with the champion (into the scratch home's store)"
"${IN_CYCLE[@]}" "$BIN/riskscore" score --data "$DATA" --as-of "$AS_OF"

step "6/7 monitor again: the champion's reference against this run"
monitor cycle
CYCLE_RC=$MONITOR_RC

step "7/7 the live store: $LIVE_DATA rescored as of $AS_OF with the champion that now serves, then monitored"
"$BIN/riskscore" score --data "$LIVE_DATA" --as-of "$AS_OF"
monitor live

if [ "${CYCLE_KEEP:-0}" = "1" ]; then
  echo "scratch home kept: $SCRATCH (a registered store: riskscore privacy erase reaches it)"
else
  rm -rf "$SCRATCH"
  echo "scratch home of the loop removed (the reports are in $REPORTS/monitoring, the models in the registry)"
fi
echo
echo "cycle: before retraining exit $FIRST_RC, after exit $CYCLE_RC; the live run after it exit $MONITOR_RC (0 = no alert, 10 = breach)."
echo "reports: $REPORTS/monitoring (newest last: the live run); status: GET /v1/monitoring/status (data_team, admin)"
