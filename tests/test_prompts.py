"""Prompts: stdin, names of their output folders (sanitised, bounded, unique)."""

from __future__ import annotations

import io

import pytest

from cgan_cli.errors import UsageError
from cgan_cli.prompts import SLUG_CHARS, prompt_names, read_prompts, slug


def test_slug_has_no_separators_dots_or_controls() -> None:
    for prompt in ("a/b\\c", "../../etc/passwd", "x\0y\nz", "  .hidden  ", "C:\\temp", "a\tb"):
        name = slug(prompt)
        assert "/" not in name and "\\" not in name and "." not in name and "\0" not in name and "\n" not in name
        assert name and not name.startswith("-")
    assert slug("A Red  Bird!") == "a-red-bird"
    assert slug("日本の 鳥") == "日本の-鳥"  # any script's letters survive


def test_slug_is_bounded_and_never_empty() -> None:
    assert len(slug("word " * 100)) <= SLUG_CHARS
    assert len(slug("x" * 500)) == SLUG_CHARS
    assert len(slug("鳥" * 500).encode()) < 255
    assert slug("!!! ???") == "prompt"


def test_names_are_unique_when_slugs_collide() -> None:
    names = prompt_names(["A red bird", "a red bird!", "a-red-bird", "other"])
    assert names == ["a-red-bird", "a-red-bird-2", "a-red-bird-3", "other"]


def test_read_prompts_reads_stdin_for_dash_keeps_order_and_drops_repeats() -> None:
    stdin = io.StringIO("a small boat\n\n  a red bird  \nfirst\n")
    assert read_prompts(["first", "-", "last"], stdin) == ["first", "a small boat", "a red bird", "last"]


def test_read_prompts_refuses_nothing_and_empty() -> None:
    with pytest.raises(UsageError):
        read_prompts(["-"], io.StringIO("\n \n"))
    with pytest.raises(UsageError):
        read_prompts(["  "])


def test_prompts_become_one_line_and_undecodable_ones_are_refused() -> None:
    assert read_prompts(["a red\nbird\twith  wings"]) == ["a red bird with wings"]
    with pytest.raises(UsageError, match="not valid text"):
        read_prompts(["a \udcff bird"])  # a non-UTF-8 argv byte, as Python decodes it
