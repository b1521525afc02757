"""Every relative link in README.md and docs/ leads somewhere: to a file the repository
has, and, with an #anchor, to a heading of it (as GitHub makes a heading's anchor)."""

import re
from pathlib import Path

import pytest

from tests.support import PROJECT_DIR

PAGES = [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation gone, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {anchor(m[1]) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())
    return [
        target
        for target in LINK.findall(text)
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_each_relative_link_leads_to_a_file_and_heading_that_exist(page):
    broken = []
    for target in relative_links(page):
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no {file.relative_to(PROJECT_DIR.resolve())}")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{target}: no heading #{fragment}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_checker_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n[gone](missing.md) [here](#a-page) [off](#nowhere)\n")
    assert relative_links(page) == ["missing.md", "#a-page", "#nowhere"]
    assert anchors(page) == {"a-page"}


def test_the_docs_index_lists_every_page():
    index = PROJECT_DIR / "docs" / "README.md"
    listed = {target.partition("#")[0] for target in relative_links(index)}
    pages = {page.name for page in PAGES if page.parent.name == "docs"} - {"README.md"}
    assert pages - listed == set()
