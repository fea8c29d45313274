"""What tests share: mocks, fixtures, fakes and factories (a package of helpers, never collected).

- `mocking`: Pulumi mocks that record every registration (`install_mocks`, `when_registered`).
- `policy_fixtures`: a compliant prod stack as the engine shows it to policies, and its factories.
- `policy_assertions`: one-line verdicts (`assert_has_violation`, `assert_no_violations`).
- `plans`: the offline plan run as `python -m plan` runs it, cached per session for the stacks.
- `redis_lab`: fixtures that run real Redis Clusters through `lab.cluster`.
- `backup_sandbox`: a mocked AWS account (moto) with the backup bucket, and fake snapshots.
- `loopback_http`: a fake HTTP peer on 127.0.0.1.
- `tools`: external tools the integration tests need, free ports.
- `documents`: YAML the tests read (the plan's manifests), parsed with libyaml.
- `sources`: the repository's Python sources as syntax trees, parsed once per test process.
- `scheduling`: how `make test-fast` shares the tests between its workers.
"""
