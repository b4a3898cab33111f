"""Service plumbing shared by the HTTP API and the web pages: state, auth dependencies, logs, metrics, the group-commit writer."""
