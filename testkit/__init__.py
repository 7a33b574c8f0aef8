"""Test support shared by tests/, bench/ and demo/: the Slack and Lambda side of the world, faked on loopback.

One home for each double the tiers and the benchmark both need — the fake Slack Web API
(`testkit.slack`), a Lambda context (`testkit.lambda_context`), signed Slack requests as API
Gateway delivers them (`testkit.slack_requests`) and the classifier that names the AWS operation
of a request reaching the emulator (`testkit.aws_operations`). Nothing here imports pytest, so
`make bench` and scripts run in a fresh process use it as the tests do. The AWS side (moto's
server, fake credentials, the demo fleet and its constants, the fake Price List) lives in demo/,
which ships with `make demo` and the Docker image; testkit does not.
"""
