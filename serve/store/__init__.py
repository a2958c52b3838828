"""The store: every statement on the `runs` and `sweeps` tables, answering typed records.

- `records`: the rows (`RunRecord`, `SweepRecord`, `Claim`, `Outcome`, ...);
- `runs`: single runs for their owner (submit under the owner's limit, read, list, cancel);
- `sweeps`: sweeps for their owner (submit, progress, cancel);
- `queue`: the dispatcher's side (claim, renew, finish, release, reap) and status counts.

Callers pass a connection from `serve.database` (the HTTP service's pool, the dispatcher's,
or `serve.database.connect_once` for a script or the Ray job).
"""
