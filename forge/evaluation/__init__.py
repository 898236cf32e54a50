"""Measuring a model on the locked gold set, and deciding what counts as better.

runner: `forge eval`; scorers: exact, json_cmd, json_match, call, custom; baseline: the zero-shot
score; promotion: strictly better on the same gold set, McNemar; probe: domain-knowledge probes;
stats: Wilson intervals and the exact McNemar test.
"""
