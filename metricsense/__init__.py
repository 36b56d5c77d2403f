"""metricsense."""
