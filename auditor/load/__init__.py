"""Load: read the spec, the data and the model, and refuse evidence that cannot be audited."""
