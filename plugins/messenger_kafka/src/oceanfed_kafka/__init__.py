"""Kafka messenger for oceanfed.

* :mod:`oceanfed_kafka.messenger`: :class:`KafkaMessenger`, the ``kafka`` messenger driver;
* :mod:`oceanfed_kafka.options`: its ``[messenger]`` options;
* :mod:`oceanfed_kafka.broker`: :class:`TansuBroker`, a local in-memory broker for tests,
  demos and benchmarks.
"""
