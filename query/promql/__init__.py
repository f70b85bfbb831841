"""PromQL: the parser adapter, the evaluator over a sample source, and its function library."""
