"""forge.agent: the planner's tool-use loop, its guards, budgets, transcript and planners."""
