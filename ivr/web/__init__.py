"""The HTTP app: health, queue figures; Twilio webhooks and the consoles plug in as blueprints."""
