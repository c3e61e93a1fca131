"""Deepomatic API v0.7 (seed 004): recognition specs and versions, asynchronous inference."""
