"""The local archive: media layout, validated atomic files, sidecars (and, from its own engineer, the store)."""
