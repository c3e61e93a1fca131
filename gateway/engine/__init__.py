"""onnxruntime sessions, execution providers and the graph heads appended to models."""
