"""Entry for `accelerate launch --config_file infra/accelerate/cpu2.yaml`: one all-reduce across processes."""

import torch
from accelerate import Accelerator

if __name__ == "__main__":
    acc = Accelerator(cpu=not torch.cuda.is_available())     # as the trainer does: gloo on CPU
    total = acc.reduce(torch.tensor([float(acc.process_index + 1)], device=acc.device), reduction="sum")
    if acc.is_main_process:
        backend = torch.distributed.get_backend() if torch.distributed.is_initialized() else "none"
        print(f"world_size={acc.num_processes} sum={total.item():g} device={acc.device.type} backend={backend}")
    acc.wait_for_everyone()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()   # else gloo may abort at interpreter exit
