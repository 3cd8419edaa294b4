"""Helpers of the test suite and the benchmarks: fake upstreams, live platforms, clients."""
