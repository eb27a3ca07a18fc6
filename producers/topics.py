"""The topics' existence: created with unlimited retention where they are missing, and as durable as the
topic they accompany."""

from __future__ import annotations


def ensure_topic(
    bootstrap: str, name: str, partitions: int, replication: int = 1, configs: dict[str, str] | None = None
) -> None:
    """Create the topic if it is missing (unlimited retention unless configs say otherwise)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    topic_configs = {"retention.ms": "-1", "retention.bytes": "-1"}
    topic_configs.update(configs or {})
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vanthu-stack", request_timeout_ms=30000)
    try:
        admin.create_topics([NewTopic(name, partitions, replication, topic_configs=topic_configs)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def durability(bootstrap: str, name: str) -> tuple[int, dict[str, str]] | None:
    """Topic `name`'s replication factor and its min.insync.replicas in effect (None: no such topic)."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vanthu-stack", request_timeout_ms=30000)
    try:
        [found] = admin.describe_topics([name])
        if found["error_code"] or not found["partitions"]:
            return None
        replication = max(len(p["replica_nodes"]) for p in found["partitions"])
        wanted = ConfigResource(ConfigResourceType.TOPIC, name, configs={"min.insync.replicas": None})
        configs = admin.describe_configs([wanted], config_filter="all")
        isr = configs["topic"][name]["min.insync.replicas"]["value"]
        return replication, {"min.insync.replicas": str(isr)}
    except KafkaError:
        return None
    finally:
        admin.close()
