import json, pytest
from tests.httpserver import http_server  # noqa
from tests.integration.planted import *
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.store.run_store import RunStore

def show(run, ep, r):
    print("EXIT", r.returncode, r.stderr[-500:])
    with RunStore(run) as s:
        print("STATE", s.state(), s.get_meta("exit_reason"))
        for f in s.findings(): print("F", f.code, f.severity, f.step, f.source)
        for e in s.events("action"): print("A", e["step"], e["payload"]["code"], e["payload"]["action"])
        print("TRAIN", [(m["step"], round(m["loss"],3) if m["loss"]==m["loss"] else m["loss"], round(m.get("grad_norm") or 0,2), round(m.get("tokens_per_s") or 0)) for m in s.metrics("train")])
        print("EVAL", [(m["step"], round(m["eval_loss"],3)) for m in s.metrics("eval")])
        print("QA", [(q["step"], q["emitted_eos"], q["output"][:20]) for q in s.qa_samples()])
    for b in ep.bodies: print("N", b["title"], "|", [l for l in b["message"].splitlines() if l.startswith("Code")])

@pytest.mark.parametrize("name", ["nan", "spike", "memorise", "stalled"])
def test_explore(name, tmp_path, http_server):
    ep = http_server()
    data = write_jsonl(make_instruction_rows(400, seed=0), tmp_path / "train.jsonl")
    base = ["train", "tiny", "--run-dir", str(tmp_path/"run"), "--set", f"data.train_file={data}",
            "--set", f'notify.urls=["json://127.0.0.1:{ep.port}/hook"]', "--set", "train.logging_steps=1", "--set", "train.chunked_loss=false"]
    def s(*kv): 
        out=[]; [out.extend(["--set", x]) for x in kv]; return out
    if name == "nan":
        with planted(NanAt(5)):
            r = invoke(*base, *s("train.max_steps=12", "eval.steps=2", "train.save_steps=2"))
    elif name == "spike":
        with planted(ScaleLogitsAt(9, 30.0), SlowFrom(14, 1.0)):
            r = invoke(*base, *s("train.max_steps=18", "eval.steps=4", "train.save_steps=4", "guard.memory_fraction=0.001", "guard.throughput_min_window_s=0"))
    elif name == "memorise":
        small = write_jsonl(make_instruction_rows(16, seed=3), tmp_path / "small.jsonl")
        val = write_jsonl(make_instruction_rows(40, seed=4), tmp_path / "val.jsonl")
        r = invoke(*base, *s(f"data.train_file={small}", f"data.validation_file={val}", "train.max_steps=40", "eval.steps=4", "train.save_steps=4"))
    elif name == "stalled":
        tok_eos = 0
        with planted(StopsEmittingEos(0)):
            r = invoke(*base, *s("train.max_steps=40", "train.learning_rate=1e-9", "eval.steps=2", "train.save_steps=2",
                                 "eval.early_stopping_patience=2", "eval.early_stopping_threshold=0.01",
                                 'eval.qa_probes=[{prompt: "### Instruction:\\nWhat is 2 plus 3?\\n\\n### Response:\\n", keywords: ["5"]}]', "eval.qa_max_new_tokens=4"))
    ep.wait_for(1)
    show(tmp_path/"run", ep, r)
