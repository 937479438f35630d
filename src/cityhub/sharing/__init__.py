"""Sharing and exchange between departments (issue 12).

Pure building blocks so far: ``workdays`` (deadlines on the Chinese working-day calendar), ``deid``
(per-column de-identification operators and policies) and ``kanon`` (k-anonymity over quasi-identifiers).
"""
