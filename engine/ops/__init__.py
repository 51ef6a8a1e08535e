"""The restoration jobs, one per module; each is a generator yielding Progress."""
