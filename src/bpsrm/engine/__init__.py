"""Training engine: config (schema and validation), trainer, checkpoints, operation counts."""
