"""Prometheus metrics, one registry per app (tests build many apps; a global registry would clash).

Labels are route *templates* and bands, never student ids. With several uvicorn workers each
process counts for itself; scrape each worker or set PROMETHEUS_MULTIPROC_DIR (see serving/README).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: pupils per batch of the scoring lane (service/lane.py)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1000, 10_000)


class ApiMetrics:
    """The service's counters and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("riskscore_http_requests_total", "HTTP requests by route template, method and status.",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("riskscore_http_request_duration_seconds", "Request latency by route template.",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.lane_batches = Histogram("riskscore_score_batch_pupils",
                                      "Pupils per batch of the scoring lane (requests that arrived together).",
                                      buckets=BATCH_BUCKETS, registry=self.registry)
        self.lane_seconds = Histogram("riskscore_score_batch_seconds", "Seconds per batch of the scoring lane.",
                                      buckets=LATENCY_BUCKETS, registry=self.registry)
        self.scores = Counter("riskscore_scores_total", "Students scored, by band.", ["band"], registry=self.registry)
        self.model_info = Gauge("riskscore_model_info", "The model version serving (value 1).", ["version"],
                                registry=self.registry)
        self.model_loaded = Gauge("riskscore_model_loaded", "1 when a model bundle is loaded.", registry=self.registry)
        self.reloads = Counter("riskscore_model_reloads_total", "Reload attempts by outcome.", ["outcome"],
                               registry=self.registry)
        self.auth_failures = Counter("riskscore_auth_failures_total",
                                     "Refused credentials: invalid (401, counted) or throttled (429).", ["outcome"],
                                     registry=self.registry)

    def set_model(self, version: str | None) -> None:
        self.model_info.clear()
        if version is not None:
            self.model_info.labels(version=version).set(1)
        self.model_loaded.set(0 if version is None else 1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
