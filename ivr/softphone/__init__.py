"""The terminal softphone's line: how the engine rings an ``ivr call`` session back.

Without AMI the engine cannot originate a call, so it offers a callback only to a caller
it can reach: an ``ivr call`` softphone, which announces in its AGI environment where it
answers (``agi_softphone_line: 127.0.0.1:<port>``, loopback only).  The engine remembers
that line for the caller's number (:mod:`.registry`); when the callback's turn comes and an
operator is reserved for it, :class:`.dialer.SoftphoneDialer` rings the line
(:mod:`.wire`) and tells routing what became of it, as the AMI dialer does from
Asterisk's events: answered (``callback_result``), then ended (``ended``).  The
softphone's side is :class:`.phone.SoftphoneLine`.
"""
