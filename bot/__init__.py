"""The Slack adapter: Block Kit rendering, Bolt listeners, the Lambda entry point and Socket Mode."""
