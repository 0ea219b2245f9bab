"""Slack listeners: parse the request, call the core, hand over to rendering."""
