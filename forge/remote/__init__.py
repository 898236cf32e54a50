"""compute.remote: running a step on another machine over ssh.

ssh: ssh and rsync with timeouts; steps: the wire format of a step (request, result, records);
run: launch, follow and collect a step; mark: the decorator that sends a step remote; check:
`forge remote check`.
"""
