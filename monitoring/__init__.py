"""Monitoring files QBT ships: the Grafana dashboard's generator (`grafana_dashboard`) and the
Prometheus configuration for a `qbt up` head (`prometheus.yml`)."""
