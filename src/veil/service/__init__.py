"""veil's HTTP service.

Who asks decides what is disclosed, so the service takes the subject (id and attributes)
only from authentication (:mod:`veil.service.auth`), never from the request body.
"""
