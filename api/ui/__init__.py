"""The web pages under /ui: server-rendered (Jinja2), Vietnamese, over the same reads and rules as /v1."""
