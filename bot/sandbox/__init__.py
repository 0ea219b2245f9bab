"""Local stand-ins for Slack and model providers, for tests, demo and benchmarks."""
