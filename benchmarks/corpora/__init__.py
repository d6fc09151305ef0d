"""Labelled corpora that veil did not write, their converters and the scoring harness
(``corpus.py``); provenance and licences in README.md."""
