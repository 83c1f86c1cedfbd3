"""The people side of the hotline in the browser: operators, supervisors, auditors.

Package by feature: :mod:`auth` (log-in, sessions, roles, CSRF), :mod:`users`,
:mod:`operator` (status, screen-pop, wrap-up), :mod:`supervisor` (dashboard, menus,
funnel), :mod:`auditor` (recordings), :mod:`cli` (``ivr users``).
:func:`ivr.console.wiring.init_console` is the one place the console is wired into the
Flask app (called by :func:`ivr.web.app.create_app`).
"""
