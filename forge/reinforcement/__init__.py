"""Reinforcement learning from the project's own scorer (GRPO): training that needs evaluation's scorer, so
it sits above it; `forge.reinforcement.entry.train` is the one entry point for a training run of any method."""
