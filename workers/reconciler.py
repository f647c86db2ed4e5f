"""The reconciler: makes TorchServe serve what the record says, after any TorchServe restart.

TorchServe starts with an empty model list (``--ncs``): its state is a cache of the record in
Redis (``workers.catalog``). Every ``interval_s`` one worker's reconciler (a Redis lock elects it)
compares the two. A recorded version that TorchServe does not know is registered again, but only
if its ``.mar`` in the model store still has the recorded sha256; otherwise it is reported
``unavailable`` with the reason and left out (a changed archive is code that was not trained
here). Registration does not wait for the model to load, so after a restart every model loads at
once. Each name's default version is set as recorded. TorchServe down: every version is
``unavailable`` until it answers again.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from model_archive.client import TorchServeClient, TorchServeError, TorchServeUnavailable
from workers.catalog import ModelCatalog, RecordedVersion
from workers.periodic import Periodic

logger = logging.getLogger(__name__)
LOCK = "gf:reconciler"
LOADING_POLL_S = 0.25
CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def reconcile(catalog: ModelCatalog, client: TorchServeClient, model_store: Path) -> dict[str, str]:
    """One pass; returns '<name>/<version>' → 'registering', 'loading', 'refused' or 'failed' for
    every version not ready (empty: TorchServe serves the whole record, or is down)."""
    recorded = catalog.recorded_versions()
    if not recorded:
        return {}
    try:  # the management API, not /ping: that says unhealthy while models are still loading
        listed = client.list_models()
    except TorchServeUnavailable:
        for entry in recorded:
            _mark(catalog, entry, "unavailable", "TorchServe is not answering; it is retried")
        return {}
    defaults = {model["modelName"]: model.get("modelUrl") for model in listed}
    present = {name: _versions(client, name) for name in defaults}
    done: dict[str, str] = {}
    for entry in recorded:
        ready = present.get(entry.name, {}).get(entry.version)
        if ready is not None:  # registered: its workers are up, or starting
            _mark(catalog, entry, "ready" if ready else "loading")
            if not ready:
                done[f"{entry.name}/{entry.version}"] = "loading"
            continue
        label = f"{entry.name}/{entry.version}"
        done[label] = _register(catalog, client, entry, model_store)
        if done[label] == "registering":
            present.setdefault(entry.name, {})[entry.version] = False
    for entry in recorded:
        wanted = entry.archive is not None and entry.archive.file
        served = entry.version in present.get(entry.name, {})
        if entry.default and wanted and served and defaults.get(entry.name) != wanted:
            try:
                client.set_default(entry.name, entry.version)
            except TorchServeError as error:
                logger.warning("%s: default version not set: %s", entry.name, error.message)
    if any(what != "loading" for what in done.values()):
        logger.info("reconciled TorchServe with the record: %s", done)
    return done


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
    catalog: ModelCatalog, client: TorchServeClient, entry: RecordedVersion, model_store: Path
) -> str:
    """Ask TorchServe to load one recorded version again, if its archive is intact.

    Registration does not wait for the model's workers, so every missing model loads at once;
    the next passes see each become ready.
    """
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
        return "recorded before archives were kept: serve it again from its job"
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
    every LOADING_POLL_S while models load, so that each is marked ready soon after it is."""

    def __init__(
        self,
        catalog: ModelCatalog,
        client: TorchServeClient,
        model_store: Path,
        owner: str,
        interval_s: float,
    ) -> None:
        self.catalog, self.client, self.model_store, self.owner = (
            catalog,
            client,
            model_store,
            owner,
        )
        super().__init__("reconciler", self._pass, interval_s)

    def _pass(self) -> float | None:
        lease_ms = int(max(30.0, self.interval_s * 5) * 1000)
        if not self.catalog.redis.set(LOCK, self.owner, nx=True, px=lease_ms):
            return None  # another worker's turn
        try:
            done = reconcile(self.catalog, self.client, self.model_store)
        finally:
            if self.catalog.redis.get(LOCK) == self.owner:
                self.catalog.redis.delete(LOCK)
        loading = any(what in ("registering", "loading") for what in done.values())
        return LOADING_POLL_S if loading else None
