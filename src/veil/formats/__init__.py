"""Reading and writing records: ``records`` (JSON, JSONL, CSV for the record engine, and
the spooled output published only after the ledger event) and ``arrow`` (Parquet, CSV
and Arrow IPC streamed as record batches for the columnar engine)."""
