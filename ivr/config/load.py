"""Load and check ``config.yaml``: every mistake with file, line and key."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ivr.config.convert import Converter, Problem
from ivr.config.errors import ConfigError
from ivr.config.schema import Config
from ivr.yamlsrc import YamlError, load_yaml
from routing.hours import Calendar


def load_config(path: str | Path) -> Config:
    """Read ``path``; raise :class:`ConfigError` listing every problem."""
    path = Path(path)
    try:
        doc = load_yaml(path)
    except YamlError as exc:
        raise ConfigError([Problem(exc.source, exc.line, exc.message)]) from None
    converter = Converter(doc)
    config = converter.build(Config) if isinstance(doc.data, dict) else None
    if not isinstance(doc.data, dict):
        converter.problem((), "the configuration must be a mapping of sections")
    if config is not None:
        _check_references(config, converter)
    if converter.problems or config is None:
        raise ConfigError(converter.problems)
    config = dataclasses.replace(config, root=str(path.parent.resolve()), source=str(path.resolve()))
    if config.calendar_file:
        calendar_path = config.path(config.calendar_file)
        calendar = _load_calendar(calendar_path, converter, doc.line(("calendar_file",)), str(path))
        if converter.problems:
            raise ConfigError(converter.problems)
        config = dataclasses.replace(config, calendar=calendar)
    return config


def _check_references(config: Config, converter: Converter) -> None:
    for name, queue in config.queues.items():
        where = ("queues", name)
        if queue.overflow is not None and queue.overflow not in config.queues:
            converter.problem((*where, "overflow"), f"queue '{name}' overflows to unknown queue '{queue.overflow}'")
        if not queue.skills:
            converter.problem((*where, "skills"), f"queue '{name}' needs at least one skill")
        for step in queue.widening:
            if not 1 <= step.proficiency <= 5:
                converter.problem((*where, "widening"), "proficiency must be 1..5")
    for op_id, operator in config.operators.items():
        for skill, level in operator.skills.items():
            if not 1 <= level <= 5:
                converter.problem(
                    ("operators", op_id, "skills", skill),
                    f"operator '{op_id}' skill '{skill}' proficiency must be 1..5, got {level}",
                )
    for user, spec in config.users.items():
        if spec.role == "operator" and spec.operator not in config.operators:
            converter.problem(("users", user, "operator"), f"user '{user}' names unknown operator '{spec.operator}'")
        if spec.phone is not None and spec.role != "supervisor":
            converter.problem(("users", user, "phone"), f"user '{user}': only supervisors have a phone")
    console = config.console
    if console.archive_certificate and not console.trusted_proxies:
        converter.problem(("console", "archive_certificate"),
                          "archive_certificate needs console.trusted_proxies: the address of the TLS proxy "
                          "(nginx, deploy/nginx/) whose certificate headers are believed; with none, no "
                          "certificate could be believed (or any could be forged)")
    for number, menu in config.menus.numbers.items():
        if not menu:
            converter.problem(("menus", "numbers", number), f"number '{number}' has no menu")
    recordings = config.recordings
    if recordings.storage == "s3":
        if recordings.s3 is None:
            converter.problem(("recordings", "storage"), "storage 's3' needs a recordings.s3 section with a bucket")
        elif not recordings.s3.bucket.strip():
            converter.problem(("recordings", "s3", "bucket"), "the bucket name is empty")
    if recordings.s3 is not None:
        if recordings.s3.attempts < 1:
            converter.problem(("recordings", "s3", "attempts"), "attempts must be at least 1")
        if recordings.s3.connect_timeout <= 0 or recordings.s3.read_timeout <= 0:
            converter.problem(("recordings", "s3"), "connect_timeout and read_timeout must be positive")
        endpoint = recordings.s3.endpoint
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            converter.problem(("recordings", "s3", "endpoint"), "the endpoint is a URL: http(s)://host:port")


def _load_calendar(path: str, converter: Converter, line: int, source: str) -> Calendar | None:
    if not os.path.exists(path):
        converter.problems.append(Problem(source, line, f"calendar file not found: {path}"))
        return None
    try:
        doc = load_yaml(path)
    except YamlError as exc:
        converter.problems.append(Problem(exc.source, exc.line, exc.message))
        return None
    sub = Converter(doc)
    calendar = sub.build(Calendar)
    converter.problems.extend(sub.problems)
    return calendar
