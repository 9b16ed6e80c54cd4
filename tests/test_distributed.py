"""Scale-out under torchrun on this CPU-only machine (gloo), and predict's bounded chunks.

The 2-process runs go through the real launcher (`python -m torch.distributed.run`, i.e. `torchrun`), as a
user would start them; each takes some seconds of process start, hence `slow`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline.core.config import DEFAULT_PARAMS
from pipeline.core.errors import InputError
from pipeline.predict import predict
from pipeline.train import split_batch

LONG = " ".join(["Het managementteam bespreekt het budget en het personeel met de diensten."] * 30)


def _fragments(path: Path, n: int = 45) -> Path:
    sentences = ["Het budget is beperkt.", "Met de scholen werken we samen op lange termijn.",
                 "Elke dinsdag loopt het taalcafé in de bibliotheek, en dat is eigenlijk heel fijn voor iedereen.",
                 "Ja.", "In het meerjarenplan kiezen we de richting."]
    rows = []
    for i in range(n):
        text = LONG if i == 17 else " ".join(sentences[: 1 + i % len(sentences)]) + f" ({i})"
        rows.append({"id": f"f{i}", "text": text, "codable": i % 9 != 4, "extra": i})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _params(path: Path, *, chunk: int, batch: int = 4) -> Path:
    params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    params["train"].update(epochs=1, batch_size=8, eval_batch_size=16, max_length=32, precision="fp32",
                           learning_rate=1e-3)
    params["predict"].update(precision="fp32", batch_size=batch)
    params["compute"].update(predict_chunk_size=chunk, device="cpu")
    path.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses): the state
    first, then the parent pid. Raises OSError or IndexError where the process has ended meanwhile."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _process_tree(root: int) -> list[int]:
    """`root` and every process below it, parents before their children (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat_fields(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue  # ended meanwhile
            children.setdefault(parent, []).append(int(entry.name))
    tree, queue = [], [root]
    while queue:
        tree.append(queue.pop(0))
        queue.extend(children.get(tree[-1], []))
    return tree


def _has_ended(pid: int) -> bool:
    """Whether process `pid` is gone or a zombie (dead, not yet reaped), read from /proc."""
    try:
        state = _stat_fields(pid)[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _abort_one_at_a_time(tree: list[int], wait: float = 5.0) -> None:
    """Send SIGABRT to each process of `tree` in turn and wait (up to `wait` s) for it to end before the next, so
    that their stack dumps, which share one stderr, do not interleave. Parents first: a launcher's stack is taken
    before it can see a worker end and start tearing the others down."""
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGABRT)
        deadline = time.monotonic() + wait
        while not _has_ended(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _run_showing_stacks_on_timeout(command: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run `command`; if it has not ended after `timeout` seconds, send SIGABRT to it and every process below it,
    one at a time (with PYTHONFAULTHANDLER set in `env`, each Python process prints its threads' stacks to stderr
    first), kill what is left, and fail the test with that stderr."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        tree = _process_tree(process.pid)
        _abort_one_at_a_time(tree)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{' '.join(command[:6])} ... did not end within {timeout} s; the stacks of its {len(tree)} "
                    f"processes at that moment:\n{stderr[-30000:]}\nstdout:\n{stdout[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _torchrun(nproc: int, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `capcode ARGS` under torchrun; a run that does not end within `timeout` seconds fails the test with
    the Python stacks of all its processes (the launcher and its workers), so that a hang shows where it is."""
    # one thread per process, as torchrun sets by default for several processes, stated so that it holds;
    # faulthandler: a process sent SIGABRT prints every thread's stack to stderr first
    env = dict(os.environ, CAPCODE_PROGRESS="0", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", PYTHONFAULTHANDLER="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "pipeline", *args]
    return _run_showing_stacks_on_timeout(command, env, timeout)


@pytest.mark.slow
def test_a_hanging_launch_fails_with_the_stacks_of_all_its_processes():
    """What the torchrun tests show if a run hangs: a parent whose child sleeps past the timeout fails the test
    with both processes' Python stacks (faulthandler on SIGABRT), one after the other: sent together, the two dumps
    interleaved in the shared stderr under load (seen in CI)."""
    child = "import time; time.sleep(120)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    with pytest.raises(pytest.fail.Exception, match="did not end within 6 s") as failure:
        _run_showing_stacks_on_timeout([sys.executable, "-c", parent], env, 6)
    message = str(failure.value)
    assert "the stacks of its 2 processes" in message
    dumps = message.split("Fatal Python error: Aborted\n\nCurrent thread 0x")
    assert len(dumps) == 3  # the parent's and the child's, each whole: one at a time, not interleaved
    assert 'subprocess.py", line' in dumps[1]  # the parent's first, waiting for its child
    assert 'File "<string>", line 1 in <module>' in dumps[2] and "subprocess.py" not in dumps[2]  # the child's


def test_split_batch_keeps_the_effective_batch():
    assert split_batch(16, processes=1) == (16, 1)  # one process: unchanged
    assert split_batch(16, processes=2) == (8, 1)
    assert split_batch(64, processes=2, max_per_device=16) == (16, 2)  # GPU cap: accumulation makes up the rest
    assert split_batch(24, processes=2, max_per_device=5) == (4, 3)  # largest divisor under the cap
    for batch, processes, cap in ((16, 4, None), (48, 3, 7), (12, 1, 5)):
        per_device, accumulation = split_batch(batch, processes=processes, max_per_device=cap)
        assert per_device * accumulation * processes == batch
    with pytest.raises(InputError, match="multiple of 3"):
        split_batch(16, processes=3)


def test_chunked_predict_equals_one_chunk(tiny_model, tmp_path):
    """Streaming in chunks of 7 (windows, skipped interviewer rows, a partial last chunk) writes the same
    bytes as one chunk holding everything, in input order, for .jsonl and .csv."""
    fragments = _fragments(tmp_path / "fragments.jsonl")
    for suffix in (".jsonl", ".csv"):
        small = tmp_path / f"small{suffix}"
        whole = tmp_path / f"whole{suffix}"
        summary = predict(inputs=[fragments], model_dir=tiny_model, output=small,
                          params_path=_params(tmp_path / "small.yaml", chunk=7))
        predict(inputs=[fragments], model_dir=tiny_model, output=whole,
                params_path=_params(tmp_path / "whole.yaml", chunk=1000))
        assert small.read_bytes() == whole.read_bytes()
        assert summary == {**summary, "fragments": 45, "coded": 40}
    rows = [json.loads(line) for line in (tmp_path / "small.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [f"f{i}" for i in range(45)]
    assert rows[17]["long_fragment"].endswith("windows") and rows[4]["coded"] is False and rows[3]["extra"] == 3


def test_bad_fragment_line_fails_before_any_output(tiny_model, tmp_path):
    fragments = _fragments(tmp_path / "fragments.jsonl", n=5)
    with fragments.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "f1", "text": "again"}\n')
    output = tmp_path / "out.jsonl"
    with pytest.raises(InputError, match="line 6: fragment id 'f1' occurs twice"):
        predict(inputs=[fragments], model_dir=tiny_model, output=output)
    assert not output.exists()


@pytest.mark.slow
def test_two_processes_write_the_same_bytes_as_one(tiny_model, tmp_path):
    """torchrun with 2 gloo processes: each scores its share, the first writes one output, byte-identical
    to one process (and to the plain command without a launcher)."""
    fragments = _fragments(tmp_path / "fragments.jsonl")
    params = _params(tmp_path / "params.yaml", chunk=11)
    outputs = {}
    for nproc in (1, 2):
        output = tmp_path / f"out{nproc}.jsonl"
        result = _torchrun(nproc, "predict", str(fragments), "--model", str(tiny_model), "-o", str(output),
                           "--params", str(params))
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stderr.count("predict: 40 of 45 fragments coded") == 1  # one summary, from the first process
        outputs[nproc] = output.read_bytes()
    plain = tmp_path / "plain.jsonl"
    predict(inputs=[fragments], model_dir=tiny_model, output=plain, params_path=params)
    assert outputs[2] == outputs[1] == plain.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("out", ".out"))) == ["out1.jsonl", "out2.jsonl"]


@pytest.mark.slow
def test_two_process_training_saves_one_model_and_resumes(tiny_backbone, tmp_path):
    """A 2-process train of a few steps on the tiny model writes one model (effective batch as configured),
    dvclive from the first process only, and `--resume` continues from its checkpoint."""
    from tests.tiny_model import write_prepared

    prepared = write_prepared(tmp_path / "prepared" / "fragments.jsonl")
    params = _params(tmp_path / "params.yaml", chunk=100)
    common = ["train", "--prepared", str(prepared), "-o", str(tmp_path / "model"), "--checkpoints",
              str(tmp_path / "checkpoints"), "--live-dir", str(tmp_path / "live"), "--backbone", str(tiny_backbone),
              "--params", str(params)]
    first = _torchrun(2, *common, "--max-steps", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stderr.count("train: validation macro-F1") == 1
    metadata = json.loads((tmp_path / "model" / "capcode_model.json").read_text(encoding="utf-8"))
    run = metadata["validation"]
    assert run["processes"] == 2 and run["steps"] == 2
    assert (run["per_device_batch_size"], run["gradient_accumulation_steps"], run["effective_batch_size"]) == (4, 1, 8)
    assert [p.name for p in tmp_path.iterdir() if "model" in p.name] == ["model"]  # no staging left behind
    assert (tmp_path / "checkpoints" / "checkpoint-2").is_dir()
    assert json.loads((tmp_path / "live" / "metrics.json").read_text(encoding="utf-8"))

    resumed = _torchrun(2, *common, "--max-steps", "4", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metadata = json.loads((tmp_path / "model" / "capcode_model.json").read_text(encoding="utf-8"))
    assert metadata["validation"]["steps"] == 4 and (tmp_path / "checkpoints" / "checkpoint-4").is_dir()


def test_device_and_precision_are_chosen_at_run_time(monkeypatch):
    import torch

    from pipeline.model.device import select_device
    from pipeline.model.precision import resolve_precision

    assert select_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")  # no GPU: the CPU path, unchanged
    with pytest.raises(InputError, match="no GPU"):
        select_device("cuda")
    with pytest.raises(InputError, match="compute.device"):
        select_device("tpu")
    for supported, expected in ((True, "bf16"), (False, "fp16")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda s=supported: s)
        assert resolve_precision("auto", "cuda:1") == expected
        assert resolve_precision("bf16", "cuda") == expected
    assert resolve_precision("fp32", "cuda") == "fp32"


def test_world_comes_from_the_launcher_environment(monkeypatch):
    from pipeline.model.distributed import world_from_env

    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert world_from_env().size == 1 and world_from_env().is_main  # no launcher: one process
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    world = world_from_env()
    assert (world.rank, world.size, world.is_main, world.distributed) == (3, 4, False, True)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="inconsistent"):
        world_from_env()


def test_compute_section_is_optional_and_checked(tmp_path):
    from pipeline.core.params import ComputeParams, load_params

    params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    assert load_params(DEFAULT_PARAMS).compute == ComputeParams(**params["compute"])
    del params["compute"]
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    assert load_params(tmp_path / "old.yaml").compute == ComputeParams()  # files from before the section
    params["compute"] = {**yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))["compute"],
                         "predict_chunk_size": 0}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(InputError, match="compute.predict_chunk_size"):
        load_params(tmp_path / "bad.yaml")


@pytest.mark.slow
@pytest.mark.parametrize("head", ["poles", "axis_categories"])
def test_two_process_adapt_writes_the_model_one_process_writes(tiny_model, tiny_backbone, prepared_mini, tmp_path,
                                                               head):
    """torchrun with 2 gloo processes: each embeds its share of the team and replay batches, the first fits
    the head and writes the model; head, rule and metadata (but its creation time) equal a single process's.
    Byte equality needs the same CPU kernels: the single process runs with one thread, as each launched one
    does (with 2 threads its matrix products sum in another order and the head differs in the last bit)."""
    from tests.test_adapt import fast_params, write_quotes

    quotes = write_quotes(tmp_path / "quotes", per_case=12)  # 36 team fragments: two embedding batches
    params = fast_params(tmp_path / "params.yaml")
    if head == "axis_categories":  # the default: on the pretrained encoder, which each process loads itself
        settings = yaml.safe_load(params.read_text(encoding="utf-8"))
        settings["adapt"].update(head="axis_categories", encoder="pretrained")
        params.write_text(yaml.safe_dump(settings), encoding="utf-8")
    common = [str(quotes), "--coder", "report", "--coder", "dev", "--model", str(tiny_model), "--replay",
              str(prepared_mini / "fragments.jsonl"), "--params", str(params), "--backbone", str(tiny_backbone)]
    plain = tmp_path / "one" / "adapted"
    result = subprocess.run([sys.executable, "-m", "pipeline", "adapt", *common, "-o", str(plain)], capture_output=True,
                            text=True, env=dict(os.environ, CAPCODE_PROGRESS="0", OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    launched = tmp_path / "two" / "adapted"
    result = _torchrun(2, "adapt", *common, "-o", str(launched))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("adapt: decision") == 1  # the first process alone fits and writes

    def metadata(directory: Path) -> dict:
        meta = json.loads((directory / "capcode_model.json").read_text(encoding="utf-8"))
        del meta["created"]
        return meta

    meta = metadata(launched)
    assert meta == metadata(plain) and meta["adapted"]["n_fragments"] == 36 and meta["adapted"]["n_replay"] > 32
    assert (launched / "head.safetensors").read_bytes() == (plain / "head.safetensors").read_bytes()
    assert (launched / "head.safetensors").read_bytes() != (tiny_model / "head.safetensors").read_bytes()
    assert sorted(p.name for p in launched.parent.iterdir()) == ["adapted"]  # no staging left behind
