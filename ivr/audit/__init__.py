"""Provable audit logs: hash-chained JSON lines anchored outside the file, signed checkpoints.

:mod:`chain` appends and reads one log, :mod:`anchor` keeps each log's head in Redis,
:mod:`checkpoint` signs it, :mod:`verify` says what broke, :mod:`logs` names every log of
the product, :mod:`cli` is ``ivr audit ...``.
"""
