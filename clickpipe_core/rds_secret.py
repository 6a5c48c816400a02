"""RDS credentials from a Secrets Manager secret (the JSON RDS writes: username, password, host,
port, dbname) as a libpq URL with TLS required. Used by the warehouse resource and by Glue Job 2
on Glue; the URL is a secret: never print it."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode


def url_from_secret_value(
    secret: dict, *, sslmode: str = "require", database: str | None = None, host: str | None = None, port: int | None = None
) -> str:
    """An RDS-managed secret holds only username and password: ``host``/``port`` fill what it lacks."""
    secret = {**secret}
    secret["host"] = secret.get("host") or host
    secret["port"] = secret.get("port") or port
    missing = [k for k in ("username", "password", "host") if not secret.get(k)]
    if missing:
        raise ValueError(f"the RDS secret lacks {', '.join(missing)}")
    user, password = quote(str(secret["username"]), safe=""), quote(str(secret["password"]), safe="")
    host, port = secret["host"], int(secret.get("port") or 5432)
    dbname = quote(str(database or secret.get("dbname") or "postgres"), safe="")
    return f"postgresql://{user}:{password}@{host}:{port}/{dbname}?" + urlencode({"sslmode": sslmode})


def url_from_secret(
    arn: str, *, sslmode: str = "require", client=None, database: str | None = None, host: str | None = None, port: int | None = None
) -> str:
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    value = client.get_secret_value(SecretId=arn)["SecretString"]
    return url_from_secret_value(json.loads(value), sslmode=sslmode, database=database, host=host, port=port)
