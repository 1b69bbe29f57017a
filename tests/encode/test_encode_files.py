"""`gtekit encode` end to end on the tiny model: shards with ids, the .npy form, resuming after a kill,
several processes; embeddings equal to in-process ``Embedder.encode``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gtekit import Embedder
from gtekit.cli.main import main
from gtekit.io.embedding_store import EncodedShards


def _texts(n: int) -> list[str]:
    words = ("embedding", "models", "map", "texts", "to", "vectors", "so", "that", "similar", "meanings", "land",
             "close", "together")
    return [" ".join(words[(i * 7 + j) % len(words)] for j in range(1 + (i * 13) % 40)) + f" #{i}" for i in range(n)]


def test_shards_with_ids_equal_embedder_encode(tiny_model_dir, tmp_path, capsys):
    texts = _texts(120)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"body": t, "doc": f"d{i}"}) + "\n" for i, t in enumerate(texts[:70])))
    table = tmp_path / "more.parquet"
    pq.write_table(pa.table({"body": texts[70:], "doc": list(range(70, 120))}), table)
    out = tmp_path / "out"
    assert main(["encode", str(tiny_model_dir), str(rows), str(table), "--field", "body", "--id-field", "doc",
                 "--kind", "document", "--shard-size", "50", "--batch-size", "8", "-o", str(out), "--no-progress"]) == 0
    assert "wrote 120 x 32 embeddings in 3 shard(s)" in capsys.readouterr().out
    shards = EncodedShards.open(out)
    assert shards.ids() == [f"d{i}" for i in range(70)] + [str(i) for i in range(70, 120)]
    assert shards.texts() == texts and shards.kind == "document" and shards.model == str(tiny_model_dir)
    assert shards.manifest["inputs"] == [str(rows), str(table)] and shards.manifest["id_field"] == "doc"
    expected = Embedder.load(tiny_model_dir).encode(texts, kind="document")
    got = shards.embeddings()
    assert ((got * expected).sum(axis=1) >= 0.999).all()
    np.testing.assert_allclose(got, expected, atol=2e-6)  # in fact equal up to float rounding


def test_npy_output_and_default_ids(tiny_model_dir, tmp_path, capsys):
    texts = _texts(30)
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(texts) + "\n")
    assert main(["encode", str(tiny_model_dir), str(source), "-o", str(tmp_path / "x.npy"), "--no-progress",
                 "--max-seq-length", "16", "--no-normalize"]) == 0
    expected = Embedder.load(tiny_model_dir, max_seq_length=16).encode(texts, normalize=False)
    np.testing.assert_allclose(np.load(tmp_path / "x.npy"), expected, atol=2e-6)
    assert main(["encode", str(tiny_model_dir), str(source), "-o", str(tmp_path / "s"), "--no-progress"]) == 0
    assert EncodedShards.open(tmp_path / "s").ids() == [f"{source}:{i}" for i in range(1, 31)]


def test_rerun_of_a_complete_folder_is_a_no_op_and_other_options_are_refused(tiny_model_dir, tmp_path, capsys):
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(_texts(10)) + "\n")
    command = ["encode", str(tiny_model_dir), str(source), "-o", str(tmp_path / "out"), "--no-progress"]
    assert main(command) == 0
    before = (tmp_path / "out" / "part-00000.npy").stat().st_mtime_ns
    capsys.readouterr()
    assert main(command) == 0
    assert "(10 rows were already there)" in capsys.readouterr().out
    assert (tmp_path / "out" / "part-00000.npy").stat().st_mtime_ns == before
    assert main([*command, "--precision", "int8"]) == 2
    assert "precision" in capsys.readouterr().err
    assert main([*command, "--precision", "int8", "--overwrite"]) == 0
    assert EncodedShards.open(tmp_path / "out").manifest["options"]["precision"] == "int8"


def test_resume_refuses_inputs_that_changed_since_the_folder_was_started(tiny_model_dir, tmp_path, capsys):
    source = tmp_path / "texts.txt"
    texts = _texts(1000)
    source.write_text("\n".join(texts) + "\n")
    out = tmp_path / "out"
    command = ["encode", str(tiny_model_dir), str(source), "--shard-size", "200", "--batch-size", "32",
               "--no-progress", "-o", str(out)]
    assert main(command) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [entry["path"] for entry in manifest["input_files"]] == [str(source)]
    manifest.update(complete=False, shards=manifest["shards"][:3])  # as if killed after 600 rows
    (out / "manifest.json").write_text(json.dumps(manifest))
    edited = [*texts[:5], "an edited row", *texts[6:600]]  # a row edited, the last 400 removed
    source.write_text("\n".join(edited) + "\n")
    capsys.readouterr()
    assert main(command) == 2
    error = capsys.readouterr().err
    assert f"{source}: size" in error and "content (sha256) differs" in error and "--overwrite" in error
    assert main([*command, "--overwrite"]) == 0
    shards = EncodedShards.open(out)
    assert shards.texts() == edited and "already there" not in capsys.readouterr().out
    np.testing.assert_allclose(shards.embeddings(), Embedder.load(tiny_model_dir).encode(edited), atol=2e-6)

    before = source.stat()
    source.write_text(source.read_text().replace("an edited row", "AN EDITED ROW"))  # same size, same time
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert main(command) == 2  # a complete folder is checked too
    error = capsys.readouterr().err
    assert f"{source}: content (sha256) differs. Its rows" in error  # same size, same time: only the hash tells
    source.write_text("\n".join(edited) + "\n")  # the same bytes again, only newer
    assert main(command) == 0
    assert "(600 rows were already there)" in capsys.readouterr().out


def test_bad_input_stops_with_the_line_and_leaves_an_incomplete_folder(tiny_model_dir, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "fine"}\n{"text": 3}\n')
    assert main(["encode", str(tiny_model_dir), str(rows), "-o", str(tmp_path / "out"), "--no-progress"]) == 2
    assert f"{rows}:2: field 'text' must be a non-empty string" in capsys.readouterr().err
    with pytest.raises(ValueError, match="incomplete"):
        EncodedShards.open(tmp_path / "out")


def test_invalid_rows_are_errors_or_skips_listed_beside_the_shards(tiny_model_dir, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "fine", "doc": "a"}\n{"text": "half \\ud800 a pair", "doc": "b"}\n'
                    '{"text": " \\t", "doc": "c"}\n\n{"text": "also fine", "doc": "d"}\n')
    command = ["encode", str(tiny_model_dir), str(rows), "--id-field", "doc", "--no-progress"]
    assert main([*command, "-o", str(tmp_path / "strict")]) == 2
    assert f"{rows}:2: field 'text' holds a lone surrogate U+D800 at character 5" in capsys.readouterr().err
    assert main([*command, "-o", str(tmp_path / "x.npy"), "--skip-invalid"]) == 2
    assert "--skip-invalid" in capsys.readouterr().err and not (tmp_path / "x.npy").exists()

    out = tmp_path / "out"
    assert main([*command, "-o", str(out), "--skip-invalid", "--shard-size", "1"]) == 0
    assert f"left out 2 invalid rows, listed in {out / 'skipped.jsonl'}" in capsys.readouterr().out
    shards = EncodedShards.open(out)
    assert shards.ids() == ["a", "d"] and shards.manifest["skipped"] == 2
    listed = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert [(row["id"], row["line"]) for row in listed] == [("b", 2), ("c", 3)]
    assert "must be a non-empty string" in listed[1]["problem"]
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.update(complete=False, shards=manifest["shards"][:1])  # as if killed after the first shard
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "skipped.jsonl").unlink()
    assert main([*command, "-o", str(out), "--skip-invalid", "--shard-size", "1"]) == 0  # resumed: all listed again
    assert EncodedShards.open(out).ids() == ["a", "d"] and len((out / "skipped.jsonl").read_text().splitlines()) == 2
    assert main([*command, "-o", str(out), "--shard-size", "1"]) == 2  # not skipping now: the folder was made so
    assert "skip_invalid" in capsys.readouterr().err


def _gtekit(*args: str) -> subprocess.Popen:
    """``gtekit ARGS`` in a fresh process; one thread each, so all runs round alike (and fast on busy cores)."""
    return subprocess.Popen([sys.executable, "-m", "gtekit", *args], stdout=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_result(tiny_model_dir, tmp_path):
    """The first run reads a named pipe that stops after 2.5 shards, so it is killed at a known point."""
    lines = [text + "\n" for text in _texts(600)]
    source, killed, whole = tmp_path / "texts.txt", tmp_path / "killed", tmp_path / "whole"
    options = ["--shard-size", "100", "--batch-size", "8", "--max-batch-tokens", "128", "--no-progress"]
    os.mkfifo(source)
    process = _gtekit("encode", str(tiny_model_dir), str(source), "-o", str(killed), *options)
    try:
        with open(source, "w") as pipe:  # blocks until the run opens the pipe
            pipe.writelines(lines[:250])
            pipe.flush()
            deadline = time.monotonic() + 300
            while not _listed_shards(killed) >= 2 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)  # waiting for line 251 in the middle of shard 3
            process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    partial = EncodedShards.open(killed, allow_partial=True)
    assert not partial.complete and len(partial) == 200

    source.unlink()
    source.write_text("".join(lines))  # the same texts, now all of them
    for folder in (killed, whole):  # rerun the same command; and an uninterrupted run
        assert _gtekit("encode", str(tiny_model_dir), str(source), "-o", str(folder), *options).wait() == 0
    resumed, complete = EncodedShards.open(killed), EncodedShards.open(whole)
    assert resumed.manifest["shards"] == complete.manifest["shards"] and len(resumed.shards) == 6
    assert resumed.ids() == complete.ids() and resumed.texts() == [line.rstrip("\n") for line in lines]
    np.testing.assert_array_equal(resumed.embeddings(), complete.embeddings())


def _listed_shards(folder) -> int:
    try:
        return len(json.loads((folder / "manifest.json").read_text())["shards"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.mark.slow
def test_several_processes_give_the_single_process_result_in_order(tiny_model_dir, tmp_path):
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(_texts(200)) + "\n")
    common = [str(tiny_model_dir), str(source), "--batch-size", "8", "--shard-size", "70", "--no-progress"]
    assert main(["encode", *common, "-o", str(tmp_path / "one")]) == 0
    assert main(["encode", *common, "-o", str(tmp_path / "two"), "--processes", "2"]) == 0
    one, two = EncodedShards.open(tmp_path / "one"), EncodedShards.open(tmp_path / "two")
    assert one.ids() == two.ids()
    np.testing.assert_allclose(two.embeddings(), one.embeddings(), atol=1e-6)


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc/PID/task/TID/children)."""
    found, todo = set(), [pid]
    while todo:
        for children in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                new = {int(child) for child in children.read_text().split()} - found
            except OSError:  # the task ended meanwhile
                continue
            found |= new
            todo += new
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has ended: only its exit status waits to be collected)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds child processes in /proc (Linux)")
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_worker_processes_end_with_the_main_process(tiny_model_dir, tmp_path, stop):
    """The run reads a named pipe that stays open, so it is stopped while its two workers wait for work."""
    source, out = tmp_path / "texts.txt", tmp_path / "out"
    os.mkfifo(source)
    process = subprocess.Popen([sys.executable, "-m", "gtekit", "encode", str(tiny_model_dir), str(source), "-o",
                                str(out), "--processes", "2", "--shard-size", "50", "--batch-size", "8",
                                "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        with open(source, "w") as pipe:  # blocks until the run opens the pipe
            pipe.writelines(text + "\n" for text in _texts(250))  # results come back 4 batches behind
            pipe.flush()
            deadline = time.monotonic() + 240
            while _listed_shards(out) < 2 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.1)  # two shards encoded: both workers started (the pool starts them on first use)
            below = _descendants(process.pid)
            workers = {pid for pid in below if "spawn_main" in _command_line(pid)}
            assert len(workers) == 2, {pid: _command_line(pid) for pid in below}
            process.send_signal(stop)
            process.wait(timeout=60)
            deadline = time.monotonic() + 30
            while any(map(_alive, below)) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = {pid: _command_line(pid) for pid in below if _alive(pid)}
    finally:
        if process.poll() is None:
            process.kill()
    assert not left, f"still running after the main process ended: {left}"
    if stop == signal.SIGTERM:
        error = process.stderr.read()
        assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in error
        assert "gtekit encode: stopped by SIGTERM" in error and "rerun the same command to resume" in error
        assert EncodedShards.open(out, allow_partial=True).manifest["shards"]  # the listed shards are kept


def test_onnx_backend_equals_torch(tiny_model_dir, tmp_path, capsys):
    import onnx  # noqa: F401  (export_onnx writes with onnx; the onnx backend runs onnxruntime)
    import onnxruntime  # noqa: F401

    from gtekit.export.onnx_export import export_onnx
    from gtekit.export.settings import ExportSettings

    export = export_onnx(str(tiny_model_dir), ExportSettings(tmp_path / "onnx", int8=True)).folder
    source = tmp_path / "texts.txt"
    texts = _texts(40)
    source.write_text("\n".join(texts) + "\n")
    common = [str(source), "--kind", "query", "--batch-size", "8", "--no-progress"]
    assert main(["encode", str(export), *common, "--backend", "onnx", "-o", str(tmp_path / "onnx.npy")]) == 0
    assert main(["encode", str(export), *common, "--backend", "onnx", "--precision", "int8",
                 "-o", str(tmp_path / "int8.npy")]) == 0
    expected = Embedder.load(tiny_model_dir).encode(texts, kind="query")
    np.testing.assert_allclose(np.load(tmp_path / "onnx.npy"), expected, atol=1e-5)
    int8 = np.load(tmp_path / "int8.npy")
    assert (int8 * expected).sum(axis=1).min() > 0.95 and np.abs(int8 - expected).max() > 1e-5
    assert main(["encode", str(export), *common, "--backend", "onnx", "--precision", "bf16",
                 "-o", str(tmp_path / "x.npy")]) == 2
    assert "fp32 or int8" in capsys.readouterr().err
