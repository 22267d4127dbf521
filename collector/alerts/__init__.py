"""Alerts to chat (CONTRACT §3.2): what happened, in each chat service's own words.

- `events`: what the rule evaluator decides, as frozen dataclasses, each with its notification id;
- `text`: the shared phrasing (the one-line summary, facts, list lines) every channel reuses;
- `channels`: one module per service rendering an event in its native payload, and the registry;
- `signing`: the `webhook` channel's HMAC signature, and the check receivers run;
- `delivery`: one attempt at sending one rendered message, and what the answer means.

The durable outbox stores `delivery.RenderedMessage`s and retries them with `delivery.retry_delay`.
"""
