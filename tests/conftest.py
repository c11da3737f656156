"""Shared fixtures. One Ray instance (and one Serve instance) for the whole session."""

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_upstream import AnthropicUpstream
from tests.fakes.openai_upstream import FakeUpstream, free_port


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(name="upstream").start()
    yield server
    server.stop()


@pytest.fixture
def second_upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(name="second").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ray_cluster():
    """One simulated two-node Ray cluster for the whole session: a head (the workstation) and a
    node carrying the ``dgx_spark`` resource (the DGX Spark), both processes on this machine."""
    from deployments.cli import SERVE_ENV

    for key, value in SERVE_ENV.items():  # the cluster settings of `tiered-router serve`, before Ray starts
        os.environ.setdefault(key, value)
    os.environ.setdefault("RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", "0")  # as the serve configs run replicas
    import ray
    from ray.cluster_utils import Cluster

    # The head carries "workstation" as cluster/start-head.sh gives it; tests that remove the DGX node
    # pin their other replicas there.
    # Node health is checked every 0.5 s (3 misses = dead) so losing the DGX node is noticed in seconds.
    fast_node_checks = {"health_check_period_ms": 500, "health_check_failure_threshold": 3,
                        "health_check_timeout_ms": 500,
                        "metrics_report_interval_ms": 2000}  # metrics reach Prometheus in seconds, not ten
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 4, "include_dashboard": False,
                                                            "resources": {"workstation": 1000},
                                                            "_system_config": fast_node_checks})
    # Each node's metrics agent serves the metrics of the replicas on that node (Ray's Prometheus endpoint).
    cluster.metrics_urls = lambda: [f"http://{node.node_ip_address}:{node.metrics_export_port}/metrics"
                                    for node in cluster.list_all_nodes()]
    cluster.dgx_node = cluster.add_node(num_cpus=2, resources={"dgx_spark": 1})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="serve", log_to_driver=False, configure_logging=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="session")
def ray_serve(ray_cluster) -> Iterator[str]:
    """Real Serve on loopback, started once; yields the HTTP base URL."""
    from ray import serve

    port = free_port()
    # One proxy, on the head: every node here shares the loopback address and port.
    serve.start(http_options={"host": "127.0.0.1", "port": port}, proxy_location="HeadOnly")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


@pytest.fixture
def db_url(tmp_path) -> str:
    """A fresh SQLite file for the ledger (workspaces, keys, budgets, caps); not yet migrated."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def db(db_url):
    from router.storage.database import Database

    database = Database(db_url)
    yield database
    database.close()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny random-weight Qwen2 checkpoint (models/tiny.py), built once per session."""
    from models.tiny import build_tiny_checkpoint

    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-checkpoint")))


@pytest.fixture
def anthropic_upstream() -> Iterator[AnthropicUpstream]:
    server = AnthropicUpstream(name="anthropic").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL: $TIERED_ROUTER_TEST_POSTGRES_URL if set, else a throwaway server started from
    Debian's binaries on loopback (as the postgres user when we are root); skipped when neither exists."""
    given = os.environ.get("TIERED_ROUTER_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    pytest.importorskip("psycopg", reason="no PostgreSQL driver (psycopg) installed")
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        pytest.skip("no PostgreSQL server binaries (Debian package postgresql) and no TIERED_ROUTER_TEST_POSTGRES_URL")
    bin_dir = os.path.dirname(binaries[-1])
    run_as: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("PostgreSQL refuses to run as root and runuser is missing")
        run_as = ["runuser", "-u", "postgres", "--"]
    folder = tempfile.mkdtemp(prefix="tiered-router-pg-")
    if run_as:
        shutil.chown(folder, user="postgres")
    data, port = os.path.join(folder, "data"), free_port()
    subprocess.run([*run_as, f"{bin_dir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([*run_as, f"{bin_dir}/pg_ctl", "-D", data, "-w", "-t", "60", "-l", os.path.join(folder, "log"),
                    "-o", f"-h 127.0.0.1 -p {port} -k {folder}", "start"], check=True, capture_output=True, timeout=90)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, f"{bin_dir}/pg_ctl", "-D", data, "-m", "fast", "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """In CI (``CI`` set) a skipped test fails, unless it is marked ``gpu`` (CI has no GPU): a test that skips
    for want of something the set-up should have installed is a gap, not a pass."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") and item.get_closest_marker("gpu") is None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may skip but GPU tests: {reason}"
