"""The Kafka surface: client configuration, topic administration, producing."""
