"""`docker/kubernetes/`: the hubs' Kubernetes manifests, checked offline (no cluster, no kubectl).

What passing proves:

- every manifest, the Secret example and the ConfigMaps kustomize generates (rebuilt here from
  `settings.env` and `cameras.yaml`) are valid objects of the Kubernetes API at `K8S_VERSION`,
  in strict mode (an unknown or misspelled field fails, not only a wrong type), against the JSON
  schemas bundled with `kubernetes-validate`; the same helper is shown to reject broken copies;
- the kustomization lists every file in the folder (`secret.example.yaml` aside, on purpose)
  and nothing that does not exist;
- the probes ask the hub's own routes on the container's port, and the Service and the
  PodDisruptionBudget select the Deployment's pods;
- every environment variable the hub gets is a setting the hub knows. This matters because
  pydantic-settings ignores an unknown `RIVERWATCH_` name without a word: a misspelled setting
  would run in production as its default;
- secrets reach the hub from the Secret by key, every key exists in the example, and none is a
  literal in the Deployment or a ConfigMap;
- the environment a pod gets (placeholders in) is accepted by `Settings`, and the mounted camera
  config loads with the hub's own loader and the Secret's camera logins.

The checks read the folder as kustomize would, imitating its ConfigMap generator (`kubectl
kustomize docker/kubernetes`, kustomize 5.5, built the same objects and ConfigMap data when it
was run by hand; kubectl is not part of a fresh install). Not proven here: what a real API server
adds (defaults, admission, quotas), that the image starts, and that three hubs share the
cameras (tests/test_cluster_hubs.py covers the cluster itself).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, get_args

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions, major_minor
from pydantic import SecretStr

from riverwatch.config import load_config
from riverwatch.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
K8S_DIR = ROOT / "docker" / "kubernetes"
KUSTOMIZATION = K8S_DIR / "kustomization.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"

# A Kubernetes release whose schemas kubernetes-validate bundles (checked below, so an upgrade of
# the package that drops it fails loudly instead of validating against another version).
K8S_VERSION = "1.33.0"

# In the folder but deliberately not a kustomize resource: the placeholders would overwrite the
# operator's real Secret on every `kubectl apply -k`.
NOT_APPLIED = frozenset({"secret.example.yaml"})

CAMERA_CREDENTIALS = frozenset(
    {
        "CITY_CAM_USER",
        "CITY_CAM_PASS",
        "JINSHA_CAM_USER",
        "JINSHA_CAM_PASS",
        "HENG_CAM_USER",
        "HENG_CAM_PASS",
    }
)
# Object storage settings: valid even while `Settings` does not declare them yet.
S3_SETTINGS = frozenset(
    {
        "RIVERWATCH_S3_ENDPOINT",
        "RIVERWATCH_S3_BUCKET",
        "RIVERWATCH_S3_ACCESS_KEY",
        "RIVERWATCH_S3_SECRET_KEY",
        "RIVERWATCH_S3_REGION",
    }
)
S3_SECRETS = frozenset({"RIVERWATCH_S3_ACCESS_KEY", "RIVERWATCH_S3_SECRET_KEY"})
SETTING_ALIASES = frozenset({"REDIS_URL"})  # Settings.redis_url's unprefixed name
POD_HELPERS = frozenset({"POD_IP", "POD_NAME"})  # downward API values, for $(NAME) expansion

# What the downward API would give a pod, for building its environment here.
FAKE_FIELDS = {"status.podIP": "10.244.1.17", "metadata.name": "riverwatch-7d9c6b8f5-x2x7q"}

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_K8S_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_USERINFO = re.compile(r"://([^/@\s]*)@")
_ONLY_PLACEHOLDERS = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}(:\$\{[A-Za-z_][A-Za-z0-9_]*\})?$")


# --- reading the folder ------------------------------------------------------------------------


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a file, each a mapping (a manifest is an object)."""
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert all(isinstance(d, dict) for d in docs), f"{path.name}: a document is not a mapping"
    return docs


def kustomization() -> dict[str, Any]:
    """kustomization.yaml, which must be exactly one document."""
    (doc,) = yaml_documents(KUSTOMIZATION)
    return doc


def resource_files() -> list[Path]:
    """The files kustomization.yaml lists under `resources` (all local files here)."""
    return [K8S_DIR / name for name in kustomization().get("resources", [])]


def env_file(path: Path) -> dict[str, str]:
    """A kustomize `envs:` file as kustomize reads it: NAME=value lines, `#` lines and blank
    lines skipped, the value kept verbatim (quotes and a trailing comment included)."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and _ENV_NAME.match(name), f"{path.name}:{number}: not NAME=value"
        assert name not in values, f"{path.name}:{number}: {name} twice"
        values[name] = value
    return values


def file_item(item: str) -> tuple[str, Path]:
    """A generator's `files` entry as (key, path): `path` alone is keyed by its file name."""
    key, sep, path = item.partition("=")
    return (key, K8S_DIR / path) if sep else (Path(item).name, K8S_DIR / item)


def generator_sources(generator: dict[str, Any]) -> list[Path]:
    """The local files a configMapGenerator entry reads."""
    files = [file_item(item)[1] for item in generator.get("files", [])]
    return files + [K8S_DIR / item for item in generator.get("envs", [])]


def generated_configmap(generator: dict[str, Any]) -> dict[str, Any]:
    """The ConfigMap kustomize makes from one generator entry (without its hash suffix)."""
    unknown = set(generator) - {"name", "files", "envs", "literals"}
    assert not unknown, f"generator {generator['name']}: not imitated here: {sorted(unknown)}"
    data: dict[str, str] = {}
    for item in generator.get("envs", []):
        data.update(env_file(K8S_DIR / item))
    for item in generator.get("literals", []):
        name, _, value = item.partition("=")
        data[name] = value
    for item in generator.get("files", []):
        key, path = file_item(item)
        data[key] = path.read_text(encoding="utf-8")
    labels = kustomization().get("generatorOptions", {}).get("labels", {})
    metadata = {"name": generator["name"], "labels": labels}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def configmaps() -> dict[str, dict[str, Any]]:
    """The generated ConfigMaps by name."""
    gens = kustomization().get("configMapGenerator", [])
    return {g["name"]: generated_configmap(g) for g in gens}


def secret_example() -> dict[str, Any]:
    """secret.example.yaml: the Secret the operator creates, with placeholder values."""
    (doc,) = yaml_documents(K8S_DIR / "secret.example.yaml")
    return doc


def secret_values() -> dict[str, str]:
    """The example Secret's keys and placeholder values."""
    values: dict[str, str] = secret_example()["stringData"]
    return values


def applied_objects() -> list[dict[str, Any]]:
    """Every object `kubectl apply -k` would send (generated ConfigMaps included)."""
    docs = [doc for path in resource_files() for doc in yaml_documents(path)]
    return docs + list(configmaps().values())


def the_one(kind: str) -> dict[str, Any]:
    """The only applied object of `kind`."""
    (found,) = [o for o in applied_objects() if o["kind"] == kind]
    return found


def pod_spec() -> dict[str, Any]:
    """The Deployment's pod template spec."""
    spec: dict[str, Any] = the_one("Deployment")["spec"]["template"]["spec"]
    return spec


def hub_container() -> dict[str, Any]:
    """The hub's container (the pod's only one)."""
    containers: list[dict[str, Any]] = pod_spec()["containers"]
    assert len(containers) == 1
    return containers[0]


# --- what the hub accepts ----------------------------------------------------------------------


def allowed_env_names() -> frozenset[str]:
    """Names the hub's process reads: its settings, their aliases, the camera logins, and the
    helpers the manifest itself expands."""
    settings = {f"RIVERWATCH_{name.upper()}" for name in Settings.model_fields}
    return frozenset(settings) | SETTING_ALIASES | S3_SETTINGS | CAMERA_CREDENTIALS | POD_HELPERS


def unknown_env_names(names: Iterable[str]) -> list[str]:
    """The names the hub would not read: misspelled or made-up settings."""
    allowed = allowed_env_names()
    return sorted(name for name in names if name not in allowed)


def secret_env_names() -> frozenset[str]:
    """Names whose value is secret: every `SecretStr` setting, the S3 keys, the camera logins."""
    fields = Settings.model_fields.items()
    secret = {
        f"RIVERWATCH_{name.upper()}"
        for name, field in fields
        if field.annotation is SecretStr or SecretStr in get_args(field.annotation)
    }
    return frozenset(secret) | {"REDIS_URL"} | S3_SECRETS | CAMERA_CREDENTIALS


def envfrom_names(container: dict[str, Any]) -> list[str]:
    """The variables a container gets from whole ConfigMaps and Secrets (`envFrom`)."""
    names: list[str] = []
    for source in container.get("envFrom", []):
        assert "prefix" not in source, "a prefix would rename every setting"
        if "configMapRef" in source:
            names += configmaps()[source["configMapRef"]["name"]]["data"]
        else:
            assert source["secretRef"]["name"] == secret_example()["metadata"]["name"]
            names += secret_values()
    return names


def key_refs(container: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The `secretKeyRef` or `configMapKeyRef` selectors of a container's `env`."""
    return [
        e["valueFrom"][kind] for e in container.get("env", []) if kind in e.get("valueFrom", {})
    ]


def pod_environment(container: dict[str, Any]) -> dict[str, str]:
    """The environment the container would start with, as the kubelet builds it: `envFrom`
    first, then `env` in order, `$(NAME)` expanded from what is already defined (any other
    reference left as is), Secret values from the example, downward API values from
    `FAKE_FIELDS`."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps()[source["configMapRef"]["name"]]["data"])
        else:
            env.update(secret_values())
    for entry in container.get("env", []):
        source = entry.get("valueFrom", {})
        if "value" in entry:
            env[entry["name"]] = _K8S_REF.sub(lambda m: env.get(m[1], m[0]), entry["value"])
        elif "fieldRef" in source:
            env[entry["name"]] = FAKE_FIELDS[source["fieldRef"]["fieldPath"]]
        elif "secretKeyRef" in source:
            env[entry["name"]] = secret_values()[source["secretKeyRef"]["key"]]
        else:
            ref = source["configMapKeyRef"]
            env[entry["name"]] = configmaps()[ref["name"]]["data"][ref["key"]]
    return env


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes byte quantity in binary units (`8Gi`, `512Mi`) as bytes."""
    units = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|)", quantity)
    assert match, f"{quantity}: not a whole number of binary units"
    return int(match[1]) * units[match[2]]


def config_placeholders(text: str) -> set[str]:
    """The `${NAME}` placeholders in a camera config's values (comments do not count)."""

    def strings(node: object) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)

    return {name for s in strings(yaml.safe_load(text)) for name in _PLACEHOLDER.findall(s)}


# --- schema validation -------------------------------------------------------------------------


def validate_manifest(doc: dict[str, Any]) -> None:
    """Validate one object against the Kubernetes schema of `K8S_VERSION`, strictly.

    Raises `kubernetes_validate.ValidationError` for an invalid object and
    `SchemaNotFoundError` for a kind or apiVersion that version does not have (never skipped).
    """
    used = kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert used == major_minor(K8S_VERSION), f"validated against {used}, not {K8S_VERSION}"


def object_id(doc: dict[str, Any]) -> str:
    """`Kind/name`, for test ids and messages."""
    return f"{doc['kind']}/{doc['metadata']['name']}"


ALL_OBJECTS = [*applied_objects(), secret_example()]


def test_the_kubernetes_version_is_bundled_with_the_validator() -> None:
    """The schemas for `K8S_VERSION` ship with kubernetes-validate (no download, no fallback)."""
    assert K8S_VERSION in all_versions()


@pytest.mark.parametrize("doc", ALL_OBJECTS, ids=object_id)
def test_every_object_is_valid_for_the_kubernetes_api(doc: dict[str, Any]) -> None:
    """Each object validates strictly: right kinds, right types, no unknown fields."""
    validate_manifest(doc)


def _misspelled_field(deployment: dict[str, Any]) -> None:
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")


def _misspelled_nested_field(deployment: dict[str, Any]) -> None:
    context = deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    context["readOnlyRootFileSystem"] = context.pop("readOnlyRootFilesystem")


def _wrong_type(deployment: dict[str, Any]) -> None:
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"


def _missing_required_field(deployment: dict[str, Any]) -> None:
    del deployment["spec"]["template"]["spec"]["containers"][0]["name"]


@pytest.mark.parametrize(
    "breakage", [_misspelled_field, _misspelled_nested_field, _wrong_type, _missing_required_field]
)
def test_the_validator_rejects_a_broken_deployment(
    breakage: Callable[[dict[str, Any]], None],
) -> None:
    """The helper bites: a copy of the real Deployment with one mistake fails validation."""
    broken = copy.deepcopy(the_one("Deployment"))
    breakage(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_manifest(broken)


def test_the_validator_does_not_skip_an_unknown_api_version() -> None:
    """A kind the version does not have is an error, not a silently unchecked object."""
    broken = copy.deepcopy(the_one("Deployment"))
    broken["apiVersion"] = "apps/v1beta9"
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate_manifest(broken)


# --- the kustomization -------------------------------------------------------------------------


def test_the_kustomization_lists_every_file_and_only_existing_ones() -> None:
    """No manifest is forgotten, none is listed that is not there; the example Secret stays out."""
    listed = resource_files()
    sources = [
        p for g in kustomization().get("configMapGenerator", []) for p in generator_sources(g)
    ]
    missing = [p.name for p in [*listed, *sources] if not p.is_file()]
    assert not missing, f"listed but not in docker/kubernetes/: {missing}"
    assert all(p.parent == K8S_DIR for p in [*listed, *sources]), "only files of this folder"
    accounted = {p.name for p in [*listed, *sources]} | {KUSTOMIZATION.name} | NOT_APPLIED
    present = {p.name for p in K8S_DIR.iterdir() if p.is_file()}
    assert present - accounted == set(), "in the folder but neither a resource nor a source"
    assert not NOT_APPLIED & {p.name for p in listed}, "the example Secret must not be applied"
    kinds = sorted(o["kind"] for o in applied_objects())
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]


def test_the_settings_file_has_no_trailing_comments_or_quotes() -> None:
    """kustomize keeps a value verbatim, so `X=1  # why` or `X="1"` would reach the hub as is."""
    for name, value in env_file(K8S_DIR / "settings.env").items():
        assert "#" not in value and not re.search(r"^['\"]|['\"]$", value), name
        assert value == value.strip(), f"{name}: surrounding spaces"


# --- the Deployment, the Service and the budget -------------------------------------------------


def container_port(port: int | str) -> int:
    """A probe's or Service's port as a number: a named port resolves to the container's."""
    if isinstance(port, int):
        return port
    (found,) = [p["containerPort"] for p in hub_container()["ports"] if p["name"] == port]
    assert isinstance(found, int)
    return found


@pytest.mark.parametrize(
    ("probe", "path"),
    [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")],
)
def test_probes_ask_the_hubs_own_routes_on_its_port(probe: str, path: str) -> None:
    """Readiness is /readyz (Redis, database, detection); liveness only that the process
    answers, so a shared outage does not restart every hub at once."""
    get = hub_container()[probe]["httpGet"]
    assert get["path"] == path
    assert container_port(get["port"]) == 8080
    assert get.get("scheme", "HTTP") == "HTTP"


def test_the_service_and_the_budget_select_the_hubs() -> None:
    """Both select exactly the Deployment's pods, and the Service reaches port 8080."""
    deployment = the_one("Deployment")["spec"]
    pod_labels = deployment["template"]["metadata"]["labels"]
    assert deployment["selector"]["matchLabels"].items() <= pod_labels.items()
    service = the_one("Service")["spec"]
    assert service["selector"].items() <= pod_labels.items()
    assert [container_port(p["targetPort"]) for p in service["ports"]] == [8080]
    budget = the_one("PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    assert deployment["replicas"] == 3 and budget.get("maxUnavailable") == 1


def test_rolling_updates_wait_out_a_lease_and_stop_gracefully() -> None:
    """The next hub stops only after the new one has been ready longer than a camera lease,
    and a stopping hub has time to hand its leases over after the preStop pause."""
    deployment = the_one("Deployment")["spec"]
    rolling = deployment["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 1 and rolling["maxSurge"] == 1
    lease_s = float(configmaps()["riverwatch-settings"]["data"]["RIVERWATCH_CLUSTER_LEASE_S"])
    assert deployment["minReadySeconds"] > lease_s
    pause_s = int(hub_container()["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod_spec()["terminationGracePeriodSeconds"] >= pause_s + 20


def test_the_pod_runs_as_the_images_user_with_a_read_only_root() -> None:
    """uid/gid as in the Dockerfile, no privileges, writable /data and /tmp only; and no
    service links, which would set RIVERWATCH_PORT=tcp://... from the Service's name."""
    user = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert user, "the Dockerfile sets a numeric USER uid:gid"
    pod = pod_spec()
    assert pod["securityContext"]["runAsUser"] == int(user[1])
    assert pod["securityContext"]["runAsGroup"] == int(user[2])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["enableServiceLinks"] is False
    context = hub_container()["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = {
        m["mountPath"]
        for m in hub_container()["volumeMounts"]
        if not m.get("readOnly") and "emptyDir" in volumes[m["name"]]
    }
    assert writable == {"/data", "/tmp"}


def test_local_evidence_stays_below_the_data_volumes_size_limit() -> None:
    """The kubelet evicts a pod whose emptyDir outgrows its sizeLimit; the hub's evidence cap
    on its own disk must leave room for the spool and the upload notes."""
    (data,) = [v for v in pod_spec()["volumes"] if v["name"] == "data"]
    limit = quantity_bytes(data["emptyDir"]["sizeLimit"])
    cap = int(configmaps()["riverwatch-settings"]["data"]["RIVERWATCH_EVIDENCE_MAX_BYTES"])
    assert cap <= limit // 2


# --- environment, secrets and the camera config ------------------------------------------------


def test_every_variable_the_hub_gets_is_a_setting_it_knows() -> None:
    """Names from `env` and from whole ConfigMaps/Secrets are hub settings or allowed extras."""
    container = hub_container()
    names = [e["name"] for e in container.get("env", [])] + envfrom_names(container)
    assert len(names) == len(set(names)), "a variable set twice: which one wins is not obvious"
    assert unknown_env_names(names) == []


def test_a_misspelled_setting_is_caught() -> None:
    """The check above bites: a typo, a missing prefix and an unknown camera login fail."""
    typos = ["RIVERWATCH_CLUSTR", "CLUSTER_LEASE_S", "RIVERWATCH_S3_BUCKETS", "CITY_CAM_PASSWORD"]
    assert unknown_env_names([*typos, "RIVERWATCH_CLUSTER", "REDIS_URL"]) == sorted(typos)


def test_every_referenced_key_exists() -> None:
    """Each `secretKeyRef` names the Secret and a key of its example; each `configMapKeyRef` a
    generated ConfigMap and one of its keys; `envFrom` and volumes name generated ConfigMaps."""
    container = hub_container()
    secret = secret_example()
    for ref in key_refs(container, "secretKeyRef"):
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret_values(), f"{ref['key']} is not in secret.example.yaml"
    for ref in key_refs(container, "configMapKeyRef"):
        assert ref["key"] in configmaps()[ref["name"]]["data"]
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            assert source["configMapRef"]["name"] in configmaps()
    for volume in pod_spec()["volumes"]:
        if "configMap" in volume:
            assert volume["configMap"]["name"] in configmaps()
    used = {ref["key"] for ref in key_refs(container, "secretKeyRef")}
    assert used == set(secret_values()), "every key of the example is given to the hub"


def test_secrets_come_from_the_secret_never_from_a_literal() -> None:
    """Passwords, the database URL, the S3 keys, the metrics token and camera logins come only
    through `secretKeyRef`; no ConfigMap holds one, and stream URLs hold only placeholders."""
    secret_names = secret_env_names()
    for entry in hub_container().get("env", []):
        if entry["name"] in secret_names:
            assert "secretKeyRef" in entry.get("valueFrom", {}), f"{entry['name']}: not a Secret"
    for configmap in configmaps().values():
        leaked = secret_names & set(configmap["data"])
        assert not leaked, f"{configmap['metadata']['name']} holds {sorted(leaked)}"
    cameras = (K8S_DIR / "cameras.yaml").read_text(encoding="utf-8")
    for userinfo in _USERINFO.findall(cameras):
        assert _ONLY_PLACEHOLDERS.match(userinfo), f"a literal login in cameras.yaml: {userinfo}"


def test_expanded_variables_are_defined_before_use() -> None:
    """Kubernetes expands `$(NAME)` only from variables defined earlier and leaves any other
    reference as literal text, so RIVERWATCH_HUB_URL must come after POD_IP."""
    defined = set(envfrom_names(hub_container()))
    for entry in hub_container().get("env", []):
        for name in _K8S_REF.findall(entry.get("value", "")):
            assert name in defined, f"{entry['name']}: $({name}) is not defined before it"
        defined.add(entry["name"])


def test_the_pods_environment_is_valid_hub_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the example's placeholders, `Settings` accepts what a pod gets: a clustered hub on
    the sentinels, named after its pod, reachable at its pod's address."""
    env = pod_environment(hub_container())
    for name in [n for n in os.environ if n.startswith("RIVERWATCH_") or n == "REDIS_URL"]:
        monkeypatch.delenv(name)  # only what the pod gets
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.cluster and not settings.own_redis
    assert len(settings.sentinel_addresses) == 3
    assert settings.node_id == FAKE_FIELDS["metadata.name"]
    assert settings.advertised_url == f"http://{FAKE_FIELDS['status.podIP']}:8080"
    assert settings.ticket_db_url is not None
    assert settings.ticket_db_url.get_secret_value().startswith("postgresql+asyncpg://")
    assert env["RIVERWATCH_S3_ENDPOINT"].startswith(("http://", "https://"))
    assert {"RIVERWATCH_S3_ACCESS_KEY", "RIVERWATCH_S3_SECRET_KEY"} <= env.keys()


def test_the_mounted_camera_config_loads_with_the_hubs_loader(tmp_path: Path) -> None:
    """The file the container's `--config` names is the cameras ConfigMap's key at its mount,
    and the hub's loader accepts that content, written where the pod would see it, with
    exactly the environment the pod gets."""
    container = hub_container()
    args = container["args"]
    config_path = Path(args[args.index("--config") + 1])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(config_path.parent)]
    (volume,) = [v for v in pod_spec()["volumes"] if v["name"] == mount["name"]]
    data = configmaps()[volume["configMap"]["name"]]["data"]
    assert config_path.name in data and mount.get("readOnly") is True
    mounted = tmp_path / config_path.name
    mounted.write_text(data[config_path.name], encoding="utf-8")
    env = pod_environment(container)
    assert config_placeholders(data[config_path.name]) <= env.keys()
    loaded = load_config(mounted, env=env)
    assert {c.config.group for c in loaded.cameras} == {"city", "jinsha", "heng"}
    assert all(c.url.get_secret_value().startswith("rtsp://CHANGE-ME-") for c in loaded.cameras)
