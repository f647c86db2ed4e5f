"""gunicorn's settings for the gateway (``gunicorn -c python:services.gunicorn_conf``).

gevent workers: each request is a greenlet, so a client following a job's events (a stream that
stays open for the whole job) holds a parked greenlet and a Redis connection, not one of a few
threads; 50 open streams leave ``generate`` as fast as with none (``bench/events_latency.py``).
Every blocking call the gateway makes (Redis, TorchServe over http.client) is on a socket that
gevent's patching makes cooperative. The bind address is given on the command line.
"""

worker_class = "gevent"
workers = 2
worker_connections = 1000  # open requests per worker, event streams included
timeout = 60
graceful_timeout = 10
accesslog = "-"
