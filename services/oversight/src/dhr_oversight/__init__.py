"""The oversight service: a tamper-evident ledger of every event, histories rebuilt from Kafka,
signed audit exports and national statistics."""
