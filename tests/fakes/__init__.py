"""Fakes of hardware libraries that cannot be installed off a Raspberry Pi."""
