"""ringvault: get a Ring customer's data out of Ring and keep it."""

__version__ = "0.1.0"
