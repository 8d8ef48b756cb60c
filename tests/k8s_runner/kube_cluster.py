"""A real kube-apiserver + etcd on loopback for tests, without containers.

How it works: `find_binaries` looks for `kube-apiserver` and `etcd` in the
directory named by KUBEBUILDER_ASSETS (the envtest convention, so any real
Kubernetes release's binaries work), then in the cache directory that
`scripts/provision-kube.sh` fills (`~/.cache/flowdeck/kube/<version>/`, built
offline from Debian's kubernetes source), then on PATH. `KubeCluster.start`
runs etcd with a temporary data directory and kube-apiserver on free loopback
ports: the secure port only, a self-signed serving certificate, a static token
file, `AlwaysAllow` authorization, `--watch-cache=false` and
`--etcd-compaction-interval=5s` (so a watch from an old resourceVersion really
gets 410 Gone), and the ServiceAccount admission plugin disabled. It waits
for /readyz, creates the test namespace and writes a kubeconfig. Everything
lives in one work directory (on /dev/shm when it exists: etcd fsyncs), and
the servers run under `setpriv --pdeathsig KILL`, so a killed test session
leaves no servers behind; the next start removes its directory.

What is real: the API server (validation, admission, defaulting, resource
versions, watches, subresources such as pods/binding, pods/status and the
pods/log proxy to the node's kubelet endpoint) and etcd.
What is not there: no kubelet and no containers (see kubelet_sim.py for the
simulator that plays that part), no scheduler (the simulator binds pods), no
kube-controller-manager (no service accounts or tokens, no garbage collection
of owned objects, namespaces stay Terminating once deleted, nodes never go
NotReady).

`FLOWDECK_TEST_KUBECONFIG` points the tests at an existing cluster instead
(kind, for example); then nothing is started and the kubeconfig's current
context is used. This module does not import pytest.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config

from tests.net import free_port

ASSETS_VARIABLE = "KUBEBUILDER_ASSETS"
KUBECONFIG_VARIABLE = "FLOWDECK_TEST_KUBECONFIG"
DEFAULT_NAMESPACE = "flowdeck-test"
TOKEN = "flowdeck-test-admin-token"
WORKDIR_PREFIX = "flowdeck-kube-"


class ClusterUnavailable(RuntimeError):
    """The binaries are missing or the cluster did not come up."""


@dataclass(frozen=True)
class KubeBinaries:
    apiserver: Path
    etcd: Path

    def apiserver_version(self) -> tuple[int, int]:
        output = subprocess.run(
            [str(self.apiserver), "--version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        match = re.search(r"v(\d+)\.(\d+)", output)
        if not match:
            raise ClusterUnavailable(f"cannot read the version from {output!r}")
        return int(match[1]), int(match[2])


def cache_dir() -> Path:
    """Where scripts/provision-kube.sh installs the binaries it builds."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flowdeck" / "kube"


def find_binaries(environ: dict[str, str] | None = None) -> KubeBinaries:
    """Find each binary: KUBEBUILDER_ASSETS, then the provision cache, then PATH."""
    environ = dict(os.environ if environ is None else environ)
    directories: list[Path] = []
    if environ.get(ASSETS_VARIABLE):
        directories.append(Path(environ[ASSETS_VARIABLE]))
    cache = cache_dir()
    if cache.is_dir():
        # Newest version first ("1.20.2" sorts by its numeric parts).
        versions = [p for p in cache.iterdir() if re.fullmatch(r"[\d.]+", p.name)]
        versions.sort(key=lambda p: [int(x) for x in p.name.split(".") if x])
        directories.extend(reversed(versions))

    def find(name: str) -> Path:
        for directory in directories:
            candidate = directory / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return Path(found)
        raise ClusterUnavailable(
            f"{name} not found in ${ASSETS_VARIABLE}, {cache} or PATH; "
            "run `bash scripts/provision-kube.sh` (Debian) or point "
            f"${ASSETS_VARIABLE} at a Kubernetes release's binaries"
        )

    return KubeBinaries(apiserver=find("kube-apiserver"), etcd=find("etcd"))


def self_signed_certificate(
    common_name: str, ip_addresses: tuple[str, ...] = ("127.0.0.1",)
) -> tuple[bytes, bytes]:
    """A self-signed serving certificate and its key, both PEM.

    It is its own CA (basicConstraints CA:TRUE), so clients can trust it
    directly as `certificate-authority-data`.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    san = [x509.DNSName("localhost"), x509.DNSName(common_name)]
    san += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectAlternativeName(san), False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def rsa_private_key_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def write_kubeconfig(path: Path, server: str, ca_pem: bytes, token: str) -> None:
    ca = base64.b64encode(ca_pem).decode()
    path.write_text(
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "- name: flowdeck-test\n"
        "  cluster:\n"
        f"    server: {server}\n"
        f"    certificate-authority-data: {ca}\n"
        "users:\n"
        "- name: flowdeck-test-admin\n"
        "  user:\n"
        f"    token: {token}\n"
        "contexts:\n"
        "- name: flowdeck-test\n"
        "  context:\n"
        "    cluster: flowdeck-test\n"
        "    user: flowdeck-test-admin\n"
        "current-context: flowdeck-test\n"
    )
    path.chmod(0o600)


def _remove_stale_workdirs(base: Path) -> None:
    """Remove the work directories of test sessions that died without cleaning
    up (killed pytest processes): etcd's 60 MB WAL on tmpfs is memory."""
    for workdir in base.glob(f"{WORKDIR_PREFIX}*"):
        try:
            pid = int((workdir / "owner.pid").read_text())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(workdir, ignore_errors=True)
        except (OSError, ValueError):
            pass  # not ours to judge: no pid file yet, or another user's


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    # SIGKILL: the data is thrown away, and kube-apiserver takes seconds to
    # drain on SIGTERM.
    if process.poll() is None:
        process.kill()
    process.wait()


@dataclass
class KubeCluster:
    """A cluster the tests talk to: started here, or an existing one."""

    kubeconfig: Path
    namespace: str = DEFAULT_NAMESPACE
    external: bool = False
    workdir: Path | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)  # by pid

    @classmethod
    def start(
        cls,
        binaries: KubeBinaries | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        ready_timeout: float = 90.0,
    ) -> KubeCluster:
        """Start etcd and kube-apiserver on free loopback ports; wait until ready."""
        binaries = binaries or find_binaries()
        for attempt in range(3):
            try:
                return cls._start_once(binaries, namespace, ready_timeout)
            except ClusterUnavailable as error:
                # Another process took a free port before a server bound it.
                if "address already in use" not in str(error) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _start_once(
        cls, binaries: KubeBinaries, namespace: str, ready_timeout: float
    ) -> KubeCluster:
        # etcd fsyncs every write; on tmpfs that costs nothing.
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
        _remove_stale_workdirs(base or Path(tempfile.gettempdir()))
        workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=base))
        (workdir / "owner.pid").write_text(str(os.getpid()))
        cluster = cls(kubeconfig=workdir / "kubeconfig", workdir=workdir)
        cluster.namespace = namespace
        try:
            etcd_url = cluster._start_etcd(binaries.etcd, workdir)
            server, ca = cluster._start_apiserver(binaries, workdir, etcd_url)
            write_kubeconfig(cluster.kubeconfig, server, ca, TOKEN)
            cluster._wait_ready(server, ca, ready_timeout)
            cluster.create_namespace(namespace)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @classmethod
    def connect(
        cls, kubeconfig: str | Path, namespace: str | None = None
    ) -> KubeCluster:
        """Use an existing cluster (FLOWDECK_TEST_KUBECONFIG); start nothing."""
        cluster = cls(kubeconfig=Path(kubeconfig), external=True)
        cluster.namespace = namespace or f"{DEFAULT_NAMESPACE}-{uuid.uuid4().hex[:6]}"
        cluster.create_namespace(cluster.namespace)
        return cluster

    @classmethod
    def from_environment(cls) -> KubeCluster:
        """Connect to $FLOWDECK_TEST_KUBECONFIG if set, else start one."""
        kubeconfig = os.environ.get(KUBECONFIG_VARIABLE)
        if kubeconfig:
            return cls.connect(kubeconfig)
        return cls.start()

    def api_client(self) -> client.ApiClient:
        """A new client for this cluster (clients are not shared across threads)."""
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def create_namespace(self, name: str | None = None) -> str:
        """Create a namespace (a fresh `t-xxxxxxxx` one by default); return its name."""
        name = name or f"t-{uuid.uuid4().hex[:8]}"
        with self.api_client() as api:
            body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
            try:
                client.CoreV1Api(api).create_namespace(body)
            except client.ApiException as error:
                if error.status != 409:
                    raise
        return name

    def delete_namespace(self, name: str) -> None:
        """Ask for the namespace's deletion (without a controller-manager it only
        turns Terminating, which still refuses new objects in it)."""
        with self.api_client() as api:
            try:
                client.CoreV1Api(api).delete_namespace(name)
            except client.ApiException as error:
                if error.status != 404:
                    raise

    def stop(self) -> None:
        """Stop what start() started (apiserver first, then etcd); idempotent.

        For an existing cluster, delete the session's namespace instead.
        """
        if self.external:
            with contextlib.suppress(client.ApiException, OSError):
                self.delete_namespace(self.namespace)
            return
        for process in reversed(self.processes):
            _stop_process(process)
        self.processes.clear()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # Starting the processes.

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        # If the test process dies without stopping the cluster (SIGKILL, or
        # SIGTERM, which skips finalizers), the kernel kills the servers too.
        # pdeathsig fires when the spawning *thread* exits: the session
        # fixture runs in the main thread.
        setpriv = shutil.which("setpriv")
        if setpriv:
            argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.processes.append(process)
        self.logs[process.pid] = log
        return process

    def _start_etcd(self, etcd: Path, workdir: Path) -> str:
        client_port, peer_port = free_port(), free_port()
        client_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        log = workdir / "etcd.log"
        process = self._spawn(
            [
                str(etcd),
                "--name=flowdeck-test",
                f"--data-dir={workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=flowdeck-test={peer_url}",
                "--initial-cluster-state=new",
                "--log-level=warn",
            ],
            log,
        )
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if process.poll() is not None:
                raise ClusterUnavailable(f"etcd exited:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{client_url}/health", timeout=1) as r:
                    if b"true" in r.read():
                        return client_url
            except OSError:
                pass
            time.sleep(0.1)
        raise ClusterUnavailable(f"etcd did not become healthy:\n{_tail(log)}")

    def _start_apiserver(
        self, binaries: KubeBinaries, workdir: Path, etcd_url: str
    ) -> tuple[str, bytes]:
        cert, key = self_signed_certificate("kube-apiserver")
        (workdir / "apiserver.crt").write_bytes(cert)
        (workdir / "apiserver.key").write_bytes(key)
        (workdir / "sa.key").write_bytes(rsa_private_key_pem())
        (workdir / "tokens.csv").write_text(
            f'{TOKEN},flowdeck-test-admin,flowdeck-test-admin,"system:masters"\n'
        )
        port = free_port()
        argv = [
            str(binaries.apiserver),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={workdir / 'apiserver.crt'}",
            f"--tls-private-key-file={workdir / 'apiserver.key'}",
            f"--token-auth-file={workdir / 'tokens.csv'}",
            "--authorization-mode=AlwaysAllow",
            f"--service-account-key-file={workdir / 'sa.key'}",
            f"--service-account-signing-key-file={workdir / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.0.0.0/24",
            # No controller-manager creates the default service account.
            "--disable-admission-plugins=ServiceAccount",
            # Reads and watches go to etcd, and etcd is compacted every 5 s, so
            # old resourceVersions expire quickly (410 Gone) as in production.
            "--watch-cache=false",
            "--etcd-compaction-interval=5s",
            # pods/log is proxied to the node's InternalIP and kubelet port;
            # without --kubelet-certificate-authority the kubelet's (the
            # simulator's self-signed) certificate is not verified.
            "--kubelet-preferred-address-types=InternalIP",
            "--enable-priority-and-fairness=false",
            f"--cert-dir={workdir / 'certs'}",
            "--v=1",
        ]
        if binaries.apiserver_version() < (1, 24):
            # Before 1.24 an insecure port listened on 8080 by default.
            argv.append("--insecure-port=0")
        self._spawn(argv, workdir / "kube-apiserver.log")
        return f"https://127.0.0.1:{port}", cert

    def _wait_ready(self, server: str, ca: bytes, timeout: float) -> None:
        context = ssl.create_default_context(cadata=ca.decode())
        request = urllib.request.Request(
            f"{server}/readyz", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        end = time.monotonic() + timeout
        last = ""
        while time.monotonic() < end:
            for process in self.processes:
                log = self.logs[process.pid]
                if process.poll() is not None:
                    raise ClusterUnavailable(
                        f"{log.stem} exited with {process.returncode}:\n{_tail(log)}"
                    )
            try:
                with urllib.request.urlopen(request, context=context, timeout=2) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as error:
                last = f"/readyz {error.code}"
            except OSError as error:
                last = str(error)
            time.sleep(0.2)
        raise ClusterUnavailable(
            f"kube-apiserver not ready after {timeout:.0f} s ({last}):\n"
            f"{_tail(self.workdir / 'kube-apiserver.log') if self.workdir else ''}"
        )
