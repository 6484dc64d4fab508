"""tuneguard: fine-tune causal LMs with LoRA and catch bad runs early."""

__version__ = "0.1.0"
