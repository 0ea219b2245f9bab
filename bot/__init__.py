"""Quorum: ask a panel of AI models one hard question, in Slack."""
