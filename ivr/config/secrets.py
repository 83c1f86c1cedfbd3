"""Secrets come from the environment, never from config.yaml.

=====================  ==========================================================
``TWILIO_AUTH_TOKEN``  signs Twilio's webhooks; without it /twilio refuses requests
``TWILIO_API_KEY``     with ``TWILIO_API_SECRET``: REST calls (callbacks, bridging)
``IVR_RECORDING_KEY``  recording master keys ``id:base64,...`` (first current), or a key file
``IVR_SECRET_KEY``     signs console sessions; missing: a random one per start
``IVR_IDENTITY_KEY``   keys the hashes of ИНН, СНИЛС and callers' numbers kept in Redis
                       (at least 16 characters); missing: one made once and kept in Redis
``REDIS_URL``          a Redis to use instead of the embedded one
``VOSK_MODEL_PATH``    a Vosk model directory; wins over ``speech.vosk_model``
``IVR_AMI_SECRET``     the AMI user's secret (``asterisk.ami_user`` in manager.conf)
``IVR_AUDIT_KEY``      signs the audit logs' checkpoints (Ed25519 seed, base64 of 32 bytes;
                       ``ivr audit keygen``); missing: anchored logs, no signed checkpoints
``IVR_AUDIT_PUBLIC_KEY`` checks checkpoints where the signing key is not (``ivr audit verify``)
``IVR_METRICS_TOKEN``  a bearer token (at least 16 characters) for /metrics and /queues:
                       with it they answer on the public port to ``Authorization: Bearer``,
                       and ``engine.ops_http`` asks for it too; missing: only ops_http serves them
``AWS_ACCESS_KEY_ID``  with ``AWS_SECRET_ACCESS_KEY``: the recordings bucket's credentials
                       (``recordings.storage: s3``); the only place they are read from
=====================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, repr=False)
class Secrets:
    twilio_auth_token: str | None = None
    twilio_api_key: str | None = None
    twilio_api_secret: str | None = None
    recording_key: str | None = None
    secret_key: str | None = None
    identity_key: str | None = None
    redis_url: str | None = None
    vosk_model_path: str | None = None
    ami_secret: str | None = None
    audit_key: str | None = None
    audit_public_key: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    metrics_token: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Secrets:
        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
            twilio_api_key=get("TWILIO_API_KEY"),
            twilio_api_secret=get("TWILIO_API_SECRET"),
            recording_key=get("IVR_RECORDING_KEY"),
            secret_key=get("IVR_SECRET_KEY"),
            identity_key=get("IVR_IDENTITY_KEY"),
            redis_url=get("REDIS_URL"),
            vosk_model_path=get("VOSK_MODEL_PATH"),
            ami_secret=get("IVR_AMI_SECRET"),
            audit_key=get("IVR_AUDIT_KEY"),
            audit_public_key=get("IVR_AUDIT_PUBLIC_KEY"),
            s3_access_key=get("AWS_ACCESS_KEY_ID"),
            s3_secret_key=get("AWS_SECRET_ACCESS_KEY"),
            metrics_token=get("IVR_METRICS_TOKEN"),
        )

    def __repr__(self) -> str:  # never print a secret by accident
        present = [name for name, value in vars(self).items() if value]
        return f"Secrets(present={present})"
