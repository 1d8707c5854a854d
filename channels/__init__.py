"""Channel adapters: raw provider input to Contacts, OutboundMessages to provider calls."""
