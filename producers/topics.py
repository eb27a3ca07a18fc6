"""The events topic's existence: created with unlimited retention where it is missing."""

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
