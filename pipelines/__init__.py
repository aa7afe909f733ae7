"""Apache Beam jobs: MNIST sources, rendering digit sequences, statistics, batch prediction."""
