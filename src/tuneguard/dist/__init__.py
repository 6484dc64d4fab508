"""Several processes (torchrun / accelerate launch): the small collectives tuneguard needs.

- `collectives`: process-group setup, and integer all-reduce / broadcast / barrier on CPU.
- `gate`: the go/no-go (audit decision, same data, same checkpoint) before models load.
- `sharded`: saving the LoRA adapter from FSDP / DeepSpeed shards.

What the run does under several processes, and how to launch it: docs/DISTRIBUTED.md.
"""

from tuneguard.dist.collectives import (
    Collectives,
    PeerTimeout,
    default_backend,
    destroy_process_group,
    env_world_size,
    init_process_group,
    is_distributed,
)
from tuneguard.dist.gate import PeerRefused, StartGate, data_fingerprint
from tuneguard.dist.sharded import gather_trainable_state_dict, is_sharded, save_adapter

__all__ = ["Collectives", "PeerRefused", "PeerTimeout", "StartGate", "data_fingerprint", "default_backend", "destroy_process_group",
           "env_world_size", "gather_trainable_state_dict", "init_process_group", "is_distributed",
           "is_sharded", "save_adapter"]
