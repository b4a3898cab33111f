#!/usr/bin/env bash
# One full monitoring loop, on top of the demo (needs a champion: run scripts/demo.sh first):
#   the population changed (a new data delivery, e.g. after regions joined, has 30 % more pupils toward mbo entree/level 2)
#   → score the later year with the champion → monitor: breach (exit 10) with a to-do list
#   → retrain on the current data → promote (scripts/promote-challenger.sh: a recorded review if the fairness gate is inconclusive; never a failed one)
#   → score the same year with the new champion → monitor against the new reference.
# Everything lands under $RISKSCORE_HOME (default .riskscore); the shifted data in $RISKSCORE_HOME/data-cycle.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export RISKSCORE_HOME=${RISKSCORE_HOME:-$PWD/.riskscore}
STUDENTS=${CYCLE_STUDENTS:-${DEMO_STUDENTS:-20000}}
SEED=${CYCLE_SEED:-8}
DATA=$RISKSCORE_HOME/data-cycle
AS_OF=${CYCLE_AS_OF:-2026-05-01}     # demo.sh passes today's date (the demo's current year)
YEARS=${CYCLE_YEARS:-7}
FIRST_YEAR=${CYCLE_FIRST_YEAR:-2019-20}
step() { printf '\n\033[1m-- cycle %s\033[0m\n' "$*"; }

# Runs `riskscore monitor`; exit 0 (ok) and 10 (breach) are verdicts, anything else is an error.
monitor() {
  local rc=0
  $BIN/riskscore monitor --config monitoring/config.yaml --outcomes "$DATA/outcomes.parquet" || rc=$?
  case $rc in
    0)  echo "monitoring: no alert / geen alarm" ;;
    10) echo "monitoring: BREACH (exit 10) — see 'what to do' above / zie 'wat te doen' hierboven" ;;
    *)  echo "monitoring failed (exit $rc)" >&2; exit "$rc" ;;
  esac
  MONITOR_RC=$rc
}

step "1/6 new data delivery: $STUDENTS students per year, $YEARS school years from $FIRST_YEAR, a population with 30 % of pupils shifted toward mbo-1/2 (all years)"
$BIN/riskscore synth --students "$STUDENTS" --years "$YEARS" --first-year "$FIRST_YEAR" --seed "$SEED" \
  --mix-shift 0.3 --mix-from "$FIRST_YEAR" --out "$DATA"

step "2/6 score as of $AS_OF with the current champion"
$BIN/riskscore score --data "$DATA" --as-of "$AS_OF"

step "3/6 monitor: the champion's reference snapshot against this run"
monitor
FIRST_RC=$MONITOR_RC

step "4/6 retrain on the current data (the new population in every fold) and register as challenger"
$BIN/riskscore train --config training/config.yaml --data "$DATA"
if ! BIN=$BIN scripts/promote-challenger.sh "demo retrain cycle on synthetic data"; then
  echo "The retrained model is not promoted; the previous champion keeps scoring."
fi

step "5/6 score as of $AS_OF again, with the new champion"
$BIN/riskscore score --data "$DATA" --as-of "$AS_OF"

step "6/6 monitor again: the new champion's reference (2024-25, the new population) against this run"
monitor
echo
echo "cycle: before retraining exit $FIRST_RC, after exit $MONITOR_RC (0 = no alert, 10 = breach)."
echo "reports: $RISKSCORE_HOME/reports/monitoring (newest last); status: GET /v1/monitoring/status (data_team, admin)"
