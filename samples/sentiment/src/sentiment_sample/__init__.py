"""Distributed sentiment analysis with AutoGen agents talking through Kafka."""
