"""Copies and overrides of framework internals, kept here so that upgrades find them."""
