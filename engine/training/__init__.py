"""Training code for the shipped models: synthetic data, datasets, loops, export."""
