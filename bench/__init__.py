"""Benchmarks of the reaper's scan, Slack ack and deployment package (`make bench`, not `make test`)."""
