"""The reconciler: makes TorchServe serve what the record says, after any TorchServe restart.

TorchServe starts with an empty model list (``--ncs``): its state is a cache of the record in
Redis (``workers.catalog``). Every ``interval_s`` one worker's reconciler (a Redis lock elects it)
compares the two. A recorded version that TorchServe does not know is registered again, but only
if its ``.mar`` in the model store still has the recorded sha256; otherwise it is reported
``unavailable`` with the reason and left out (a changed archive is code that was not trained
here). A version recorded without an archive (served later from a finished job) gets one built
from its job's generator first. Registration does not wait for the model to load, so after a
restart every model loads at once. Each name's default version is set as recorded (a pending
default once it is ready). Versions retired from the record (deleted, or past the retention) are
unregistered and their archives removed from the model store. TorchServe down: every version is
``unavailable`` until it answers again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from model_archive.client import TorchServeClient, TorchServeError, TorchServeUnavailable
from workers.catalog import ModelCatalog, RecordedVersion, RetiredVersion
from workers.periodic import Periodic
from workers.records import Archive

logger = logging.getLogger(__name__)
LOCK = "gf:reconciler"
LOADING_POLL_S = 0.25
CHUNK = 1 << 20
# builds a version's archive in the model store from its job (ValueError: why it cannot)
Build = Callable[[RecordedVersion], Archive]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def reconcile(
    catalog: ModelCatalog,
    client: TorchServeClient,
    model_store: Path,
    build: Build | None = None,
) -> dict[str, str]:
    """One pass; returns '<name>/<version>' → 'registering', 'loading', 'refused', 'failed' or
    'down' (TorchServe not answering) for every version not ready (empty: TorchServe serves the
    whole record)."""
    recorded = catalog.recorded_versions()
    retired = catalog.retired()
    if not recorded and not retired:
        return {}
    try:  # the management API, not /ping: that says unhealthy while models are still loading
        listed = client.list_models()
    except TorchServeUnavailable:
        for entry in recorded:
            _mark(catalog, entry, "unavailable", "TorchServe is not answering; it is retried")
        return {f"{entry.name}/{entry.version}": "down" for entry in recorded}
    defaults = {model["modelName"]: model.get("modelUrl") for model in listed}
    present = {name: _versions(client, name) for name in defaults}
    wanted = {entry.name: entry.version for entry in recorded if entry.default}
    done: dict[str, str] = {}
    for entry in recorded:
        label = f"{entry.name}/{entry.version}"
        ready = present.get(entry.name, {}).get(entry.version)
        if ready is not None:  # registered: its workers are up, or starting
            _mark(catalog, entry, "ready" if ready else "loading")
            if not ready:
                done[label] = "loading"
            elif entry.pending_default and catalog.set_default_version(entry.name, entry.version):
                wanted[entry.name] = entry.version
            continue
        done[label] = _register(catalog, client, entry, model_store, build)
        if done[label] == "registering":
            present.setdefault(entry.name, {})[entry.version] = False
    archives = {(e.name, e.version): e.archive.file for e in recorded if e.archive is not None}
    for name, version in wanted.items():
        file = archives.get((name, version))
        if file and version in present.get(name, {}) and defaults.get(name) != file:
            try:
                client.set_default(name, version)
                defaults[name] = file
            except TorchServeError as error:
                logger.warning("%s: default version not set: %s", name, error.message)
    for gone in sorted(
        retired, key=lambda g: g.file is not None and defaults.get(g.name) == g.file
    ):
        _remove(catalog, client, gone, model_store)  # TorchServe's default of a name goes last
    if any(what != "loading" for what in done.values()):
        logger.info("reconciled TorchServe with the record: %s", done)
    return done


def _remove(
    catalog: ModelCatalog, client: TorchServeClient, gone: RetiredVersion, model_store: Path
) -> None:
    """Unregister a retired version and remove its archive; kept for the next pass if
    TorchServe refuses (it does not unregister a default version while others remain)."""
    try:
        client.unregister(gone.name, gone.version)
    except TorchServeError as error:
        if error.status != 404:  # 404: not registered (TorchServe restarted meanwhile): fine
            logger.warning("%s: not unregistered yet: %s", gone.field, error.message)
            return
    if gone.file is not None:
        (model_store / gone.file).unlink(missing_ok=True)
    catalog.drop_retired(gone)
    logger.info("%s: unregistered, and its archive removed", gone.field)


def _versions(client: TorchServeClient, name: str) -> dict[str, bool]:
    """Each registered version of ``name``, and whether a worker of it is ready."""
    try:
        described = client.describe(name)
    except TorchServeError:
        return {}
    return {
        str(d["modelVersion"]): any(w.get("status") == "READY" for w in d.get("workers", []))
        for d in described
    }


def _register(
    catalog: ModelCatalog,
    client: TorchServeClient,
    entry: RecordedVersion,
    model_store: Path,
    build: Build | None,
) -> str:
    """Ask TorchServe to load one recorded version (again), if its archive is intact; a version
    without one gets it built first.

    Registration does not wait for the model's workers, so every missing model loads at once;
    the next passes see each become ready.
    """
    if entry.archive is None and build is not None:
        try:
            archive = build(entry)
        except ValueError as error:
            _mark(catalog, entry, "unavailable", f"its archive cannot be built: {error}")
            return "refused"
        catalog.set_archive(entry.name, entry.version, archive)
        entry = replace(entry, archive=archive)
    refusal = _refusal(entry, model_store)
    if refusal is not None or entry.archive is None:
        _mark(catalog, entry, "unavailable", refusal)
        return "refused"
    try:
        client.register(entry.archive.file, entry.name, wait=False)
    except TorchServeError as error:
        if error.status != 409:  # 409: registered meanwhile (another pass): fine
            _mark(catalog, entry, "unavailable", f"TorchServe refused it: {error.message}")
            return "failed"
    _mark(catalog, entry, "loading")
    return "registering"


def _refusal(entry: RecordedVersion, model_store: Path) -> str | None:
    """Why this version cannot be registered again, or None when its archive is intact."""
    if entry.archive is None:
        return "it has no archive: serve it again from its job (POST /v1/models)"
    path = model_store / entry.archive.file
    if not path.is_file():
        return f"its archive {entry.archive.file} is missing from the model store"
    if file_sha256(path) != entry.archive.sha256:
        logger.error("%s: sha256 differs from the record; not registered", path)
        return f"its archive {entry.archive.file} changed since it was recorded (sha256 differs)"
    return None


def _mark(
    catalog: ModelCatalog, entry: RecordedVersion, state: str, reason: str | None = None
) -> None:
    current = catalog.serving_of(entry.name, entry.version)
    if current is None or current.state != state or current.reason != reason:
        catalog.set_serving(entry.name, entry.version, state, reason)


class Reconciler(Periodic):
    """``reconcile`` every ``interval_s`` in a daemon thread, by whichever worker holds the lock;
    every LOADING_POLL_S while models load or TorchServe is down, so that a restarted TorchServe
    gets its models back, and each is marked ready, soon after it can be."""

    def __init__(
        self,
        catalog: ModelCatalog,
        client: TorchServeClient,
        model_store: Path,
        owner: str,
        interval_s: float,
        build: Build | None = None,
    ) -> None:
        self.catalog, self.client, self.model_store, self.owner = (
            catalog,
            client,
            model_store,
            owner,
        )
        self.build = build
        super().__init__("reconciler", self._pass, interval_s)

    def _pass(self) -> float | None:
        lease_ms = int(max(30.0, self.interval_s * 5) * 1000)
        if not self.catalog.redis.set(LOCK, self.owner, nx=True, px=lease_ms):
            return None  # another worker's turn
        try:
            done = reconcile(self.catalog, self.client, self.model_store, self.build)
        finally:
            if self.catalog.redis.get(LOCK) == self.owner:
                self.catalog.redis.delete(LOCK)
        # soon again while models load or TorchServe is down: it is back within seconds
        soon = any(what in ("registering", "loading", "down") for what in done.values())
        return LOADING_POLL_S if soon else None
