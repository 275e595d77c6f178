"""digitlab's benchmarks: scripts that measure. Results land in benchmarks/results/*.json."""
