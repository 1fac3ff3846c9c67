"""The integration service: webhooks that tell agency case systems of the events that concern them."""
