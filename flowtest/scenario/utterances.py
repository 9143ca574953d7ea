"""``*.utterances.yaml``: named lists of phrases, found the way pytest finds ``conftest.py``.

A scenario sees the lists of its own folder and of every folder above it up to the
project root. A name defined twice on that path is an error for the scenarios that
use it. Each folder is listed and each file read once per run, whatever the number
of scenarios.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flowtest.errors import Location, SourceError
from flowtest.yamlsource import Document, load_documents, read_text

UTTERANCE_SUFFIXES = (".utterances.yaml", ".utterances.yml")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class UtteranceList:
    name: str
    phrases: tuple[str, ...]
    location: Location  # where the name is defined
    phrase_locations: tuple[Location, ...] = field(repr=False)


@dataclass(frozen=True)
class Library:
    """The lists one folder sees, and what is wrong with the files on its path."""

    lists: Mapping[str, UtteranceList] = field(default_factory=dict)
    duplicates: Mapping[str, SourceError] = field(default_factory=dict)
    broken: tuple[SourceError, ...] = ()

    def problem(self, name: str) -> SourceError | None:
        """Why ``name`` cannot be used from this folder, or None."""
        if name in self.duplicates:
            return self.duplicates[name]
        if name in self.lists:
            return None
        if self.broken:
            return self.broken[0]
        return None


def is_utterance_file(path: Path) -> bool:
    return path.name.endswith(UTTERANCE_SUFFIXES)


def read_lists(path: Path, display: str) -> list[UtteranceList]:
    """The lists of one file; raises SourceError on the first problem."""
    documents = load_documents(read_text(path, display), display)
    if len(documents) != 1 or not isinstance(documents[0].data, dict):
        where = documents[0].location() if documents else Location(display, 1, 1)
        raise SourceError(where, "an utterances file is one mapping of NAME: [phrase, ...]")
    document = documents[0]
    return [_one_list(document, name, phrases) for name, phrases in document.data.items()]


def _one_list(document: Document, name: str, phrases: object) -> UtteranceList:
    key = document.key_location((name,))
    if not NAME.match(name):
        raise SourceError(key, f"'{name}' is not a list name (letters, digits, _ . -)")
    if not isinstance(phrases, list):
        raise SourceError(document.location((name,)), f"{name}: expected a list of phrases")
    if not phrases:
        where = document.location((name,))
        raise SourceError(where, f"{name}: the list is empty: give it at least one phrase")
    texts = []
    for index, phrase in enumerate(phrases):
        phrase = document.written.get((name, index), phrase)  # a phrase is a text as typed: 0042, 12:30
        if isinstance(phrase, (dict, list, bool)) or phrase is None or str(phrase).strip() == "":
            raise SourceError(document.location((name, index)), f"{name}[{index}]: expected a phrase (text)")
        texts.append(str(phrase))
    locations = tuple(document.location((name, index)) for index in range(len(phrases)))
    return UtteranceList(name, tuple(texts), key, locations)


class UtteranceFinder:
    """Libraries per folder under one root, each folder computed once from its parent's."""

    def __init__(self, root: Path, display: Callable[[Path], str]) -> None:
        self.root = root
        self._display = display
        self._libraries: dict[Path, Library] = {}

    def library(self, folder: Path) -> Library:
        if folder not in self._libraries:
            above = folder.parent
            inherited = (
                self.library(above)
                if folder != self.root and above != folder and above.is_relative_to(self.root)
                else Library()
            )
            self._libraries[folder] = self._extend(inherited, folder)
        return self._libraries[folder]

    def _extend(self, inherited: Library, folder: Path) -> Library:
        files = _utterance_files(folder)
        if not files:
            return inherited
        lists = dict(inherited.lists)
        duplicates = dict(inherited.duplicates)
        broken = list(inherited.broken)
        for path in files:
            display = self._display(path)
            outside = linked_outside(path, self.root, display)
            if outside is not None:
                broken.append(outside)
                continue
            try:
                found = read_lists(path, display)
            except SourceError as exc:
                broken.append(exc)
                continue
            for utterances in found:
                first = lists.get(utterances.name)
                if first is None:
                    lists[utterances.name] = utterances
                elif utterances.name not in duplicates:
                    duplicates[utterances.name] = SourceError(
                        utterances.location,
                        f"utterance list '{utterances.name}' is already defined at {first.location}; "
                        "a name is defined once in a folder and the folders above it",
                    )
        return Library(lists, duplicates, tuple(broken))


def linked_outside(path: Path, root: Path, display: str) -> SourceError | None:
    """A list file that links outside the project is not read: the rule of scenarios and partials."""
    if not path.is_symlink() or path.resolve().is_relative_to(root):
        return None
    return SourceError(Location(display, 1, 1), f"links to a file outside the project ({root}): not read")


def _utterance_files(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries if entry.name.endswith(UTTERANCE_SUFFIXES))
    except OSError:
        return []
    return [folder / name for name in names]
