"""The policy language: from YAML files to a per-field plan for one request.

Stages, in the order data flows through them:

* ``model``      what a bundle file may say (pydantic, shape only)
* ``loader``     YAML -> models, remembering file and line of every node
* ``validate``   every cross-reference checked at once -> a compiled ``Bundle`` (``bundle``)
* ``conditions`` py-abac's rule language parsed into DNF; ``matching`` partial evaluation
* ``decision``   the combining table (most restrictive wins, exceptions by priority)
* ``plan``       one request compiled into a per-field plan that engines apply
* ``explain``    the plan as reasons: outcome and rules per field
* ``testing``    a bundle's own YAML test cases run through the façade
* ``compliance`` purposes, recipients, profile views and assertions, compiled
* ``profiles``   regulations as identifier classes (Safe Harbor, LDS, PCI display),
  ``checks`` the judgements they run, ``views`` a plan judged against them, ``proofs``
  every declared request judged at validation
* ``datasets``   dataset declarations compiled (paths, implied containers, ids)

Nothing here reads records or writes the ledger; engines and :mod:`veil.core` do.
"""
