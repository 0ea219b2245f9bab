"""What knows Slack: app wiring, the thread writer, Block Kit and text."""
