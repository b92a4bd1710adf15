"""The application layer: one unit of work and the commands every adapter (CLI, API, Prefect flows) calls.

Import order (docs/architecture.md): domain ← settings ← models ← notifications ← services ← flows ← api / complaints.
A command takes a `UnitOfWork` (session, config, calendar, clock, events to announce after commit),
decides with the pure domain, writes through the stores in models/, and records the events it wants
announced; the unit announces them once the transaction has committed.
"""
