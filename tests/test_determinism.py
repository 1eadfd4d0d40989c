"""The same seed gives bit-identical checkpoints and numbers on the CPU, across processes.

The book's whole pipeline at smoke scale (data -> θ_C -> CBFT -> a linear path between them) runs
twice in fresh processes with separate, empty checkpoint caches; every stored safetensors file
must be byte-identical and every printed number equal. A third run with another seed must differ.
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import json, sys
from mmc_utils import zoo
from mmc_utils.finetune import accuracies_pct
from mmc_utils.paths import LinearPath
seed = int(sys.argv[1])
config = zoo.data_config("smoke", seed)
data = zoo.load_data(config)
sets = data.eval_sets()
theta_c, _ = zoo.pretrained("cue", config, seed=seed, scale="smoke")
tuned, _ = zoo.finetuned(theta_c, "cbft", config, seed=seed, scale="smoke")
table = zoo.path_table(tuned, LinearPath(tuned.state_dict(), theta_c.state_dict()), sets, data, scale="smoke", seed=seed)
print(json.dumps({"theta_c": accuracies_pct(theta_c, sets), "cbft": accuracies_pct(tuned, sets),
                  "path_loss": table["loss"].tolist(), "path_acc": table["acc"].tolist()}))
"""


def _run(seed: int, cache: Path) -> tuple[dict, dict[str, str]]:
    env = {**os.environ, "MMC_CACHE_DIR": str(cache), "MMC_SCALE": "smoke", "MMC_DEVICE": "cpu"}
    env.pop("MMC_CODE_VERSION", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(seed)], env=env, capture_output=True, text=True,
                         check=True, timeout=600)
    numbers = json.loads(out.stdout.strip().splitlines()[-1])
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(cache.glob("*.safetensors"))}
    return numbers, digests


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {name: _run(seed, tmp_path_factory.mktemp(name)) for name, seed in (("a", 0), ("b", 0), ("other", 1))}


def test_same_seed_same_checkpoints_bit_for_bit(runs):
    (_, da), (_, db) = runs["a"], runs["b"]
    assert len(da) >= 2  # θ_C and the CBFT model at least
    assert da == db


def test_same_seed_same_numbers(runs):
    assert runs["a"][0] == runs["b"][0]


def test_another_seed_gives_other_checkpoints(runs):
    (na, da), (no, do) = runs["a"], runs["other"]
    assert set(da.values()).isdisjoint(do.values())
    assert na != no
