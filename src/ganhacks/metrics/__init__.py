"""Metrics that work offline: distribution distances in any feature space, and the 2D mode metrics."""

from ganhacks.metrics.distribution import frechet_distance, kid, kl_to_uniform, prdc
from ganhacks.metrics.toy import mode_metrics

__all__ = ["frechet_distance", "kid", "kl_to_uniform", "mode_metrics", "prdc"]
