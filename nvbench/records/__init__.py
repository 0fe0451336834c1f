"""The record contract: the typed record and its vocabularies (record.py), the one DataFrame
conversion (frame.py) and the metric catalogue (catalogue.py). Short re-exports only."""

from nvbench.records.catalogue import DEFAULT_ANCHOR, Metric, metric, register_metric
from nvbench.records.frame import normalise_record, records_frame
from nvbench.records.record import (
    RECORD_FIELDS,
    SPLITS,
    STATUSES,
    Record,
    RecordError,
    Split,
    Status,
    build_record,
    check_split,
    check_status,
    diverged_record,
    failed_record,
    not_applicable_record,
    ok_record,
    record_problems,
)

__all__ = [
    "RECORD_FIELDS", "SPLITS", "STATUSES", "Record", "RecordError", "Split", "Status", "build_record",
    "check_split", "check_status", "diverged_record", "failed_record", "normalise_record",
    "not_applicable_record", "ok_record", "record_problems", "records_frame",
    "DEFAULT_ANCHOR", "Metric", "metric", "register_metric",
]
