#!/usr/bin/env bash
# Promote the challenger as a data team would, and say plainly what the gates decided:
#   pass                      → promoted
#   inconclusive / unmeasured → promoted only with a recorded review (--review, stored on the registry
#                               version and in the audit log): the data cannot tell, a person decided
#   fairness fail             → NOT promoted (cannot be overridden); exit 3
#   baselines not beaten      → promoted with a logged --force --reason (demo only)
# Usage: scripts/promote-challenger.sh "<context for the review text>"
set -uo pipefail
BIN=${BIN:-.venv/bin}
CONTEXT=${1:-demo on synthetic data}
err=$(mktemp)
trap 'rm -f "$err"' EXIT
if $BIN/riskscore promote 2>"$err"; then
  exit 0
fi
cat "$err" >&2
if grep -q -- "--review" "$err"; then
  echo "The fairness gate is inconclusive or unmeasured: its intervals straddle a bound, so the data cannot tell"
  echo "whether a group is served worse. A person must look at the model card (fairness table and mitigation front)."
  echo "The demo records that review:"
  $BIN/riskscore promote --review "$CONTEXT: inconclusive fairness gate reviewed in the model card (fairness table and front)"
elif grep -q "cannot be overridden" "$err"; then
  echo "The challenger FAILED its fairness gate: a group is served measurably worse, and no point on the mitigation"
  echo "front passed (see the model card). It is not promoted; a failed fairness gate cannot be overridden."
  exit 3
else
  echo "The challenger did not beat a baseline at capacity (see the model card). For the demo only, it is promoted"
  echo "with a logged override."
  $BIN/riskscore promote --force --reason "$CONTEXT: baseline gate reviewed in the model card"
fi
