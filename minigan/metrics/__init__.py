"""Measuring a trained GAN: mode coverage on 2D mixtures; classifier-FID and class coverage on MNIST-like
images (with minigan's own MNIST classifier -- NOT comparable to Inception FID; see
:mod:`minigan.metrics.image_metrics`)."""

from minigan.metrics.classifier import features, load_classifier, predict, predict_proba
from minigan.metrics.image_metrics import (
    ClassCoverage,
    ImageMetrics,
    class_coverage,
    classifier_fid,
    classifier_statistics,
    evaluate_images,
    frechet_distance,
)
from minigan.metrics.modes import ModeCoverage, mode_coverage

__all__ = [
    "ClassCoverage",
    "ImageMetrics",
    "ModeCoverage",
    "class_coverage",
    "classifier_fid",
    "classifier_statistics",
    "evaluate_images",
    "features",
    "frechet_distance",
    "load_classifier",
    "mode_coverage",
    "predict",
    "predict_proba",
]
