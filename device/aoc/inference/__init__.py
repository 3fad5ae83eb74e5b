"""Model bundle -> scores: bundles, the TFLite runtime, pre/postprocessing, the classifier,
Edge TPU failover.
"""
