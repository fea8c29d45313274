"""cache-platform: composes the caching tier's components from the validated stack config.

Nothing is registered when the config is invalid: `load_stack_config` raises first, listing every
problem with its key.
"""

import pulumi

from components.redis.cluster import RedisCluster, RedisClusterArgs
from components.stack_config import load_stack_config

config = load_stack_config()

redis = RedisCluster(
    "redis",
    RedisClusterArgs(
        settings=config.redis,
        labels=config.labels,
        monitoring_namespace=config.monitoring.namespace,
    ),
)

pulumi.export("environment", config.environment.value)
pulumi.export("redisEndpoint", redis.client_endpoint)
pulumi.export("redisSecretName", redis.secret_name)
pulumi.export("redisNodeCount", redis.node_count)
