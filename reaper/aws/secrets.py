"""Secrets gateway (Powertools Parameters): a JSON object from Secrets Manager, or from SSM for a path.

Powertools' module-level get_secret builds its client from boto3's defaults, which read
AWS_DEFAULT_REGION but not AWS_REGION (NoRegionError where only AWS_REGION is set, as in
the README's examples). So the provider gets a client of ours: the home region, the entry
point's timeouts, and AWS_ENDPOINT_URL as botocore reads it.

IAM: secretsmanager:GetSecretValue. A name starting with "/" is an SSM SecureString instead,
which needs ssm:GetParameter (and kms:Decrypt); infra/template.yaml uses Secrets Manager.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, NoCredentialsError

from reaper.aws.clients import aws_config, error_text
from reaper.errors import SecretUnreadable
from reaper.settings import LAMBDA_TIMEOUTS, Timeouts

IAM_ACTIONS = ("secretsmanager:GetSecretValue",)

_NOT_FOUND = ("ResourceNotFoundException", "ParameterNotFound")
_DENIED = ("AccessDeniedException", "AccessDenied")
MAX_AGE = 3600  # seconds a value read is reused by the same provider


def read_json(name: str, region: str, *, timeouts: Timeouts = LAMBDA_TIMEOUTS, client: Any = None) -> dict[str, Any]:
    """The secret `name` (an SSM parameter when it starts with "/") as a JSON object.

    Raises SecretUnreadable saying what went wrong: not found, access denied (and the
    permission needed), not a JSON object, or AWS not reached.
    """
    from aws_lambda_powertools.utilities import parameters

    ssm = name.startswith("/")
    if client is None:
        import boto3

        session = boto3.session.Session()
        client = session.client("ssm" if ssm else "secretsmanager", region_name=region, config=aws_config(timeouts))
    try:
        value: Any
        if ssm:
            value = parameters.SSMProvider(boto3_client=client).get(name, transform="json", decrypt=True,
                                                                     max_age=MAX_AGE)
        else:
            value = parameters.SecretsProvider(boto3_client=client).get(name, transform="json", max_age=MAX_AGE)
    except parameters.exceptions.TransformParameterError:
        raise SecretUnreadable(f"{name} is not a JSON object") from None
    except parameters.exceptions.GetParameterError as error:
        raise SecretUnreadable(_unreadable(name, error, ssm, region)) from None
    if not isinstance(value, dict):
        raise SecretUnreadable(f"{name} is not a JSON object")
    return value


def _unreadable(name: str, error: Exception, ssm: bool, region: str) -> str:
    """Why a secret could not be read: not found and access denied call for different fixes.

    Powertools wraps every failure in GetParameterError(str(exc)) inside its except block,
    so the AWS error is the exception's context.
    """
    cause = error.__cause__ or error.__context__
    kind = "SSM parameter" if ssm else "secret"
    if isinstance(cause, ClientError):
        details = cause.response.get("Error", {})
        code, message = str(details.get("Code", "")), str(details.get("Message", ""))
        if code in _NOT_FOUND:
            return f"{kind} {name} was not found in {region}"
        if code in _DENIED:
            action = "ssm:GetParameter" if ssm else "secretsmanager:GetSecretValue"
            return f"access to {kind} {name} was denied (needs {action}): {message}".rstrip(": ")
        return f"could not read {kind} {name}: {error_text(cause)}"
    if isinstance(cause, NoCredentialsError):
        return f"could not read {kind} {name}: no AWS credentials found"
    if isinstance(cause, Exception):
        return f"could not read {kind} {name}: {error_text(cause)}"
    return f"could not read {kind} {name}: {error}"
