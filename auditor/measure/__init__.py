"""Measure: metrics, intervals, disparities, curves and explanations from the reduced statistics."""
