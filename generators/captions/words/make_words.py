"""Derive the word-frequency tables in this folder from wordfreq (run once, offline afterwards).

    python3.11 -m venv /tmp/wf && /tmp/wf/bin/pip install wordfreq==3.1.1
    /tmp/wf/bin/python generators/captions/words/make_words.py

Not imported by the generator (wordfreq is not a dependency): the tables it
writes are committed, and the generator reads only them. See README.md here.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import wordfreq

LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "el", "ru")
TOP = 3000
# Letters of the word's script, optionally joined by one apostrophe or hyphen ("don't", "peut-être").
_WORD = re.compile(r"^[^\W\d_]+(?:['-][^\W\d_]+)*$")
# wordfreq splits elisions off ("l'homme" -> "l", "homme"); the generator re-attaches these to the next word.
ELIDED = {"fr": {"l", "d", "j", "n", "s", "c", "qu", "m", "t"}, "it": {"l", "d", "c", "un", "dell", "all", "nell", "dall", "sull"}}


def _script_ok(word: str, lang: str) -> bool:
    names = [unicodedata.name(ch, "") for ch in word if ch.isalpha()]
    script = {"el": "GREEK", "ru": "CYRILLIC"}.get(lang, "LATIN")
    # Modern Greek is monotonic: polytonic letters (Greek Extended, U+1F00-1FFF) mark old or quoted text.
    return all(n.startswith(script) for n in names) and not any("\u1f00" <= ch <= "\u1fff" for ch in word)


def derive(lang: str) -> list[tuple[str, float]]:
    rows = []
    for word in wordfreq.iter_wordlist(lang, "best"):
        if len(rows) == TOP:
            break
        if not _WORD.match(word) or not _script_ok(word, lang):
            continue
        if len(word) == 1 and word not in ("a", "i", "y", "o", "e", "à", "é", "и", "в", "с", "к", "у", "а", "я", "ο", "η") \
                and word not in ELIDED.get(lang, ()):
            continue
        if lang == "el":  # wordfreq case-folds the final sigma
            word = re.sub("σ$", "ς", word)
        rows.append((word, round(wordfreq.zipf_frequency(word, lang, "best"), 2)))
    return rows


def main() -> None:
    here = Path(__file__).parent
    for lang in LANGUAGES:
        rows = derive(lang)
        text = "".join(f"{w}\t{z:.2f}\n" for w, z in rows)
        (here / f"{lang}.tsv").write_text(f"# word\tzipf (wordfreq {wordfreq.__version__ if hasattr(wordfreq, '__version__') else '3.1.1'}, "
                                          f"'best' list, top {len(rows)} words)\n" + text, encoding="utf-8")
        print(lang, len(rows), rows[:5], rows[-1])


if __name__ == "__main__":
    main()
