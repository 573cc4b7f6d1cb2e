"""Channels other than the website widget: Microsoft Teams (outgoing webhook)."""
