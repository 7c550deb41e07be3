"""Registry checks: files a registry names (relative to that file) and what the TikTok source has."""

from __future__ import annotations

from pathlib import Path

from optimizer_pipeline.lib.registry.checks import (
    SourceCatalog,
    check_registry,
    missing_files,
    named_files,
    unavailable_sources,
)
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.sample.design import SAMPLE_HASHTAGS

SAMPLE_CATALOG = SourceCatalog("sample", hashtags=frozenset(SAMPLE_HASHTAGS))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_sample_registry_has_no_problem_with_the_sample_source() -> None:
    registry = load_registry(SAMPLE_CLIENTS_FILE)
    assert [(c, f) for c, f, _ in named_files(registry)] == [
        ("glowfuel", "test_loop.creatives_file"),
        ("glowfuel", "test_loop.influencers_file"),
    ]
    assert check_registry(registry, SAMPLE_CATALOG) == []


def test_missing_files_resolve_relative_to_the_registry_file(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path / "conf" / "data" / "creatives.yaml", "creatives: []\n")
    write(tmp_path / "creatives.yaml", "creatives: []\n")  # beside the working directory, not the registry
    path = write(
        tmp_path / "conf" / "clients.yaml",
        "clients:\n"
        "  - name: Acme\n    hashtags: [fitness]\n"
        "    test_loop: {creatives_file: data/creatives.yaml, influencers_file: data/influencers.csv}\n"
        "  - name: Beta\n    hashtags: [yoga]\n    test_loop: {creatives_file: creatives.yaml}\n"
        "  - name: Gamma\n    hashtags: [run]\n",
    )
    monkeypatch.chdir(tmp_path)
    problems = missing_files(load_registry(path))
    assert [(p.client, p.field) for p in problems] == [
        ("acme", "test_loop.influencers_file"),
        ("beta", "test_loop.creatives_file"),
    ]
    assert str(problems[1]) == (
        f"{path}: client 'beta': test_loop.creatives_file: file {str(tmp_path / 'conf' / 'creatives.yaml')!r} "
        "does not exist (paths are relative to the registry file)"
    )
    (tmp_path / "conf" / "creatives.yaml").mkdir()  # a folder of that name is not the file
    assert len(missing_files(load_registry(path))) == 2


def test_unavailable_hashtags_and_handles_list_what_the_source_has(tmp_path: Path) -> None:
    path = write(
        tmp_path / "clients.yaml",
        "clients:\n  - name: Acme\n    hashtags: [nutrition, '#Fitness']\n    competitors: ['@GreenBites', rival]\n",
    )
    registry = load_registry(path)
    [problem] = unavailable_sources(registry, SAMPLE_CATALOG)  # the sample has a profile for any handle
    assert (problem.client, problem.field) == ("acme", "hashtags")
    assert problem.message == (
        "#Fitness is not in the sample source, which has #mealprep, #nutrition; "
        "its partition acme__fitness will fail to scrape"
    )
    replay = SourceCatalog("replay", hashtags=frozenset({"nutrition", "fitness"}), handles=frozenset({"greenbites"}))
    [handle] = unavailable_sources(registry, replay)
    assert handle.field == "competitors" and handle.message.startswith("@rival is not in the replay source")
    assert "which has @greenbites;" in handle.message
    assert unavailable_sources(registry, SourceCatalog("apify")) == []
    assert check_registry(registry) == []  # no catalog: files only
