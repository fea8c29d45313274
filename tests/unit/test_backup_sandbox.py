"""The AWS sandbox of the backup tests starts every test from an empty account, although it
reuses its boto3 clients between tests."""

from __future__ import annotations

import pytest

from tests.support.backup_sandbox import BUCKET, aws_sandbox, kms_client


def test_a_sandbox_sees_nothing_of_the_previous_one(monkeypatch: pytest.MonkeyPatch) -> None:
    with aws_sandbox(monkeypatch) as first:
        first.s3.put_object(Bucket=BUCKET, Key="left-behind", Body=b"x")
        first_key = first.kms_key_id
        assert first.keys() == ["left-behind"]
    with aws_sandbox(monkeypatch) as second:
        assert second.keys() == []
        listed = [k["KeyId"] for k in kms_client().list_keys()["Keys"]]
        assert listed == [second.kms_key_id] and first_key not in listed
