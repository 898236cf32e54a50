"""A project directory and what it records.

project: the directory, its loaded config and paths; code: loading the project's own Python
(generator.py, scorer.py); records: experiments, best score, heartbeat, spend, AGENT_CONTEXT.md,
PLAN.md; status and report: what a person reads; scaffold: `forge init`; git: iteration commits;
options: the CLI's --project option and project discovery.
"""
