"""The import benchmark runs, on a small project, and reports what it measured."""

from __future__ import annotations

from pipeline.benchmarks.qdpx import bench_import


def test_bench_import_small():
    result = bench_import(n_interviews=2, n_codings=40, repeats=2)
    assert result["n_interviews"] == 2 and result["n_codings"] == 40
    assert len(result["times_s"]) == 2 and result["median_s"] > 0
    assert result["dialect"] == "utf16"  # generated NVivo-for-Windows style: BOM, CRLF, UTF-16 units
    assert 0 < result["imported_codings"] <= 40
    assert result["characters"] > 2 * 50_000
