"""PII inside free text: offline Presidio analysis (:mod:`.engine`), its worker pool
(:mod:`.pool`), span resolution (:mod:`.spans`), per-job counts (:mod:`.collect`) and
schema discovery (:mod:`.scan`).

Importing this package imports neither Presidio nor spaCy; :mod:`.engine` does so on
first use.
"""
