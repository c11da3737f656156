"""The cluster scripts parse, agree on the resource the 70B deployment needs, and use token auth."""

import subprocess
from pathlib import Path

import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"


def test_scripts_are_valid_bash_and_enable_token_auth():
    for name in ("start-head.sh", "join-spark.sh"):
        script = CLUSTER / name
        subprocess.run(["bash", "-n", str(script)], check=True)
        assert "RAY_AUTH_MODE=token" in script.read_text()


def test_the_spark_joins_with_the_dgx_spark_resource_and_the_head_does_not():
    assert """--resources='{"dgx_spark": 1}'""" in (CLUSTER / "join-spark.sh").read_text()
    assert "dgx_spark" not in (CLUSTER / "start-head.sh").read_text().split("ray start --head")[1].split("echo")[0]
    config = yaml.safe_load((CLUSTER / "cluster.yaml").read_text())
    assert any('"dgx_spark": 1' in c for c in config["worker_start_ray_commands"])
    assert not any("dgx_spark" in c for c in config["head_start_ray_commands"])
