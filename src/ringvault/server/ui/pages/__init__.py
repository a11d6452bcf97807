"""One module per page of the web UI; each defines ``router`` and optionally ``NAV`` (see ``ringvault.server.ui``)."""
