"""The offline demo and the fake AWS account it (and the tests and benchmarks) audit."""
