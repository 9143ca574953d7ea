"""Reporters: everything here reads a Trace and writes something a person reads."""
