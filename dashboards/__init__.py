"""Grafana dashboards for DOME, generated from code (``python -m dashboards.generate``).

Dashboards are written in Python with the Grafana Foundation SDK (pinned to its Grafana
11.6 target) rather than edited as JSON, so panels share one label convention and one
variable chain, and a test can check that every metric a panel queries is exported. The
JSON they produce is committed under ``charts/dome/dashboards/`` and shipped by the chart.
"""
