"""Seeded synthetic data (``synth``: obviously fake patients, FHIR resources, accounts and
transactions) and the ``demo`` that sanitizes it for several requesters."""
