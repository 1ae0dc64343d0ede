"""A trained model without torch: ONNX classifier, predict, ONNX eval, open-set, calibration, latency, doctor."""
