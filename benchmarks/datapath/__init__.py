"""`qbt bench`: QBT's data path beside the designs it replaces, on one machine, one run.

Four modes give the same engine the same strategies over the same window; only how a
backtest gets its 54-factor panel differs (`modes`). Where each step lives:

- `runner`: the run: market (a tiny fresh one for `--quick`), Redis (`services`), plan
  (`strategies`: the mix), one driver process per mode, HTTP scenario (`httpstep`, via
  `benchmarks/http_load.py`), report files.
- `driver`: one mode's phases (prepare, latency, throughput, memory at each concurrency);
  `phases`: how backtests flow through an executor in a phase, and their summaries.
- `modes` (+ `codecs`, `market`): the data paths; `pool` (worker processes, as Celery
  runs them) and `rayexec` (Ray tasks on one registry-owned ObjectRef) execute them.
- `memory`: summed PSS of every process involved, sampled; the memory guard.
- `netio`: bytes received over TCP (what a data access moved).
- `report`: figures, ratios, targets, agreement of results; `markdown`: the tables.
"""
