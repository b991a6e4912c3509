"""Engines: where rows are read and reduced (in memory, streamed in batches, in Spark)."""
