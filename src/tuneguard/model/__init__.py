"""The model: tokenizer and pad token, base model (hub, local, GGUF, built-ins), LoRA
(`load`), and the card's properties with the decisions taken on them (`device`)."""
