"""THE review core: what follows a score, computed once from ``scoring.ScoredStudent`` and used by the
API, the pages, the batch job and the Spark engine alike (they only parse, call and render).

- ``teams``: a role and its unit; at most one open case per pupil per team;
- ``candidates``: case candidates from the scoring core's routes (routing once), every signal of a pupil
  for a team in one candidate; capacity per team;
- ``duties``: the legal duty where it lies (the school reports 16 hours to DUO; leerplicht awaits it),
  overdue, and the next step's date — kept apart;
- ``plans``: the steps and outcomes of each role, follow-up checks;
- ``letters``: a short, plain letter to the parents;
- ``worklist``: the rows a team sees, cut by the role view;
- ``frame``: the run's monitoring frame.

Layer: above scoring and access, below the store, the jobs and the doors.
"""

from riskscore.review.candidates import CaseCandidate, SignalIn, candidates, signal_keys
from riskscore.review.teams import CASE_ROLES, TEAM_UNITS, Team, team_of

__all__ = ["CASE_ROLES", "TEAM_UNITS", "CaseCandidate", "SignalIn", "Team", "candidates", "signal_keys", "team_of"]
