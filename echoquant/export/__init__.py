"""What leaves echoquant: the results table, per-clip JSON, overlays and DICOM SR."""
