#!/usr/bin/env bash
# The demo: generate a synthetic Dutch cohort, build features, train and register a model, promote
# it if it passes the gates, score the current year, open review cases, run monitoring, create one
# demo person (web sign-in in demo mode) and one demo API key (machines) per role, and serve. Everything lands under $RISKSCORE_HOME (default .riskscore).
# The data and the scoring date follow today's date: the last synthetic school year is the current one
# and the batch scores as of today (DEMO_AS_OF overrides), so a new user sees a live worklist with
# real "days left" and "verlopen". The demo keys go to a file only its owner can read (never the log).
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
AS_OF=${DEMO_AS_OF:-$(TZ=Europe/Amsterdam date +%F)}  # the schools' day (riskscore.clock), not the UTC date
CURRENT=$($BIN/python -c "import datetime as d; t = d.date.fromisoformat('$AS_OF'); print(t.year if t.month >= 8 else t.year - 1)")
school_year() { printf '%d-%02d' "$1" $((($1 + 1) % 100)); }
FIRST_YEAR=$(school_year $((CURRENT - 5)))
PAST=$((CURRENT - 1))-10-01
LAST_YEAR=$(school_year "$CURRENT")
# the retrain loop (scripts/cycle.sh) re-delivers the same years with a shifted population
export CYCLE_FIRST_YEAR=${CYCLE_FIRST_YEAR:-$FIRST_YEAR} CYCLE_YEARS=${CYCLE_YEARS:-6} CYCLE_AS_OF=${CYCLE_AS_OF:-$AS_OF}

step "1/8 synthetic cohort: $STUDENTS students, 6 school years ($FIRST_YEAR … $LAST_YEAR, the current one)"
$BIN/riskscore synth --students "$STUDENTS" --years 6 --first-year "$FIRST_YEAR" --seed 7 --out "$DATA"

step "2/8 point-in-time features"
$BIN/riskscore features --data "$DATA" --out "$DATA/features.parquet"

step "3/8 train, evaluate, audit, register (alias challenger)"
$BIN/riskscore train --config training/config.yaml --data "$DATA"

step "4/8 promote to champion (fairness gate: pass, or a recorded review when inconclusive; never a failed one)"
if ! BIN=$BIN scripts/promote-challenger.sh "demo on synthetic data"; then
  echo "The demo stops here: there is no champion to score with. Open the model card under $RISKSCORE_HOME/models."
  exit 3
fi

step "5/8 batch scoring of the current year ($LAST_YEAR, as of $AS_OF) and review cases"
$BIN/riskscore score --data "$DATA" --as-of "$AS_OF"

step "5b/8 did it help? a run as of $PAST (its cases kept apart from the live lists), then the regression-discontinuity estimate at each team's capacity cut-off"
# a scratch store, so last year's cases never appear on today's worklists; the same champion and MLflow,
# and the report (counts and estimates, no pupil) goes where the /impact page reads it
SCRATCH="$RISKSCORE_HOME/impact-demo"
rm -rf "$SCRATCH"
IMPACT=(env -u RISKSCORE_DATA_DIR RISKSCORE_HOME="$SCRATCH" RISKSCORE_DATABASE_URL="sqlite:///$SCRATCH/riskscore.db"
        RISKSCORE_MLFLOW_TRACKING_URI="${RISKSCORE_MLFLOW_TRACKING_URI:-sqlite:///$RISKSCORE_HOME/mlflow.db}"
        RISKSCORE_MLFLOW_ARTIFACT_ROOT="${RISKSCORE_MLFLOW_ARTIFACT_ROOT:-$RISKSCORE_HOME/mlartifacts}"
        RISKSCORE_REPORTS_DIR="${RISKSCORE_REPORTS_DIR:-$RISKSCORE_HOME/reports}")
"${IMPACT[@]}" $BIN/riskscore score --data "$DATA" --as-of "$PAST"
"${IMPACT[@]}" $BIN/riskscore impact --data "$DATA" || echo "(impact: see the report's honest statement above)"
# the scratch store holds a second copy of pupils' scores; it was only needed for the report, so it goes (if an
# interrupted demo leaves it, `riskscore privacy erase` reaches it too: "impact-demo" is a registered scratch
# home in src/riskscore/store/erasure.py, SCRATCH_HOMES)
rm -rf "$SCRATCH"
echo "scratch store of the past run removed (the report is in $RISKSCORE_HOME/reports/impact)"

step "6/8 monitoring pass: the current scores against the champion's reference snapshot"
$BIN/riskscore monitor --config monitoring/config.yaml || echo "(monitoring found breaches: see the list above)"

if [ "${DEMO_CYCLE:-1}" = "1" ] && [ -x scripts/cycle.sh ]; then
  step "6b/8 one full loop on another cohort, in its own scratch home: drift → retrain → promote → score → monitor; then today's live data rescored with the champion that now serves (DEMO_CYCLE=0 skips)"
  scripts/cycle.sh
fi

step "7/8 demo people (web) and demo API keys (machines, for the curl example)"
# people sign in on the web as themselves; in demo mode only, a "demo sign-in" on /login lets you pick one
# of these demo people (no identity provider needed). API keys are for systems: they go to a file only
# its owner can read (never the log).
KEYS=$RISKSCORE_HOME/demo-keys.txt
( umask 077; : > "$KEYS" )
chmod 600 "$KEYS"
school=$($BIN/python -c "import pandas as pd; s=pd.read_parquet('$DATA/students.parquet'); print(s[s.school_year==s.school_year.max()].school_id.value_counts().index[0])")
region=$($BIN/python -c "import pandas as pd; s=pd.read_parquet('$DATA/students.parquet'); print(s[s.school_id=='$school'].rmc_region.iloc[0])")
gm=$($BIN/python -c "import pandas as pd; s=pd.read_parquet('$DATA/students.parquet'); print(s[s.school_id=='$school'].municipality.iloc[0])")
existing=$($BIN/riskscore users list 2>/dev/null || true)
for spec in "school school:$school Mentor" "jeugdarts rmc_region:$region Jeugdarts" "leerplicht municipality:$gm Leerplichtambtenaar" "rmc rmc_region:$region RMC-trajectbegeleider" "data_team all Datateam" "admin all Beheerder"; do
  set -- $spec
  name="Demo $3 ($2)"
  if ! grep -qF "$name" <<<"$existing"; then
    $BIN/riskscore users add --demo --name "$name" --role "$1" --scope "$2" >/dev/null
  fi
  key=$($BIN/riskscore keys create --role "$1" --scope "$2" --label "demo-$1" 2>/dev/null)
  printf '%-11s %-28s %s\n' "$1" "$2" "$key" >> "$KEYS"
  printf '%-11s %-28s demo person "%s"; API key in %s\n' "$1" "$2" "$name" "$KEYS"
done

# a mentor narrowed to one class of that school (mentor groups): sees only that class's pupils — the class
# with the most open cases of the school today, so the demo's mentor finds pupils on the list
group=$($BIN/python scripts/demo_group.py "$school")
if [ -n "$group" ]; then
  name="Demo Mentor $group (school:$school)"
  if ! grep -qF "$name" <<<"$existing"; then
    $BIN/riskscore users add --demo --name "$name" --role school --scope "school:$school" --groups "$group" >/dev/null
  fi
  printf '%-11s %-28s demo person "%s" (mentor group %s)\n' school "school:$school" "$name" "$group"
fi

step "8/8 serving on http://127.0.0.1:$PORT (demo mode: a random session secret for this run)"
echo "worklist: http://127.0.0.1:$PORT/  (sign in: choose a demo person under 'Demo: aanmelden zonder instelling')"
echo "API docs: http://127.0.0.1:$PORT/docs  (API keys in $KEYS, readable only by you)"
exec $BIN/riskscore serve --host 127.0.0.1 --port "$PORT"
