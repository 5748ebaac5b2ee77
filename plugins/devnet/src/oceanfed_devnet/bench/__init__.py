"""``oceanfed bench``: figures for round latency, throughput, signers, failover and cost."""
