"""Prometheus metrics of the platform: what it does (in-process instruments, `metrics`)
and what the database says (scrape-time gauges, `collector`), served by `exposition`.

No Streamlit here: the portal mounts `exposition.metrics_route`, the worker calls
`exposition.start_worker_server`. docs/metrics.md lists every metric and alert.
"""
