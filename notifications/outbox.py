"""The outbox writer moved to models/outbox_writer.py (a store, below notifications); re-exported."""

from models.outbox_writer import OutboxItem, dead_letters, enqueue, requeue, rows_for, status_counts

__all__ = ["OutboxItem", "dead_letters", "enqueue", "requeue", "rows_for", "status_counts"]
