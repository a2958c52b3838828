"""The HTTP service: Ray Serve + FastAPI in front of a durable run queue in PostgreSQL.

    client ─HTTP─► Serve proxy ─► Ingress replica (serve.app, num_cpus=0)
                                   FastAPI (serve.api): routes/ ─► Service (serve.service)
                                   ├ validates specs on the current panel (serve.panels)
                                   └ writes runs/sweeps (serve.store) ─► PostgreSQL ◄─┐
                                                                      NOTIFY qbt_runs │
                   Dispatcher actor (serve.dispatcher, detached, num_cpus=0) ─────────┘
                   claims (serve.queue) ─► Ray tasks (serve.tasks) with the panel's ObjectRef
                   from the DatasetRegistry ─► results written back ─► NOTIFY qbt_done ─► ?wait=

Modules: `options` (ServiceOptions), `errors` (typed errors) + `handlers` (the one mapping to
HTTP), `models` (`...Public` outputs; inputs are the engine's StrategySpec / SweepSpec),
`deps` (dependency aliases), `keys` (API keys), `database` (pool, LISTEN), `limits` (body cap),
`config` (Serve application builder). Deploy with `serve.app.deploy`, `serve run
serve.builder:build_app` or `serve deploy serve-config.yaml`.
"""
