"""Side-by-side benchmarks against peers; ``make bench`` runs them all in one process."""
