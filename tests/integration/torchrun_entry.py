"""A torchrun program for the tests: one rank of a distributed run, then its weights' hash.

Usage: ``torchrun_entry.py CONFIG_JSON HASH_DIR RUN_ID``. Every rank trains with
``distributed_train`` and writes the SHA-256 of its weights to ``HASH_DIR/rank-<RANK>``.
``TEST_INIT_METHOD`` (default ``env://``) says where the ranks meet.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from model_trainer.core.config.settings import load_settings
from model_trainer.core.contracts.defaults import train_config_from_json
from model_trainer.core.contracts.model import LMModelProto
from model_trainer.core.distributed.rank import TrainJob, distributed_train, wait_quietly
from model_trainer.core.errors import ModelTrainerError


def weights_hash(model: LMModelProto) -> str:
    """SHA-256 of every weight, by name, as bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def main(argv: list[str]) -> int:
    """Train as this rank, then write the hash of this rank's weights."""
    config, hashes, run_id = argv
    cfg = train_config_from_json(Path(config).read_text(encoding="utf-8"))

    def finish(handle: TrainJob) -> int:
        status = wait_quietly(handle)
        prepared = handle.prepared
        if prepared is None:
            raise ModelTrainerError("INTERNAL_ERROR", "the job ended without a model")
        rank = os.environ["RANK"]
        (Path(hashes) / f"rank-{rank}").write_text(weights_hash(prepared["model"]))
        return status

    return distributed_train(
        cfg,
        load_settings(),
        run_id=run_id,
        report=finish,
        follow=finish,
        init_method=os.environ.get("TEST_INIT_METHOD", "env://"),
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
