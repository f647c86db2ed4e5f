"""The stack as local processes: launchers for Redis, TorchServe, workers and the gateway
(``redis``, ``torchserve``, ``worker``, ``gateway``), their wiring (``local``) and the
``ganfoundry-stack`` command (``cli``). Used by ``make up``, the benchmarks and the tests."""
