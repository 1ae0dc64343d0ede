"""A trained model without torch: the onnxruntime classifier, predict, ONNX evaluation, open-set, calibration,
latency, doctor."""
