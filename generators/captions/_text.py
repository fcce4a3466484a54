"""Offline subtitle text for the captions generator.

Version 2 (the ``broadcast`` preset): :func:`sample_dialogue_sentence` draws
one sentence in one of eight languages (English, French, German, Spanish,
Italian, Portuguese, Greek, Russian; every bundled DejaVu and STIX face
covers their letters). Words are drawn independently with the probability of
their real frequency, ``p(w) ~ 10 ** zipf(w)``, from the 3000 most frequent
words of each language in wordfreq 3.1.1 (tables in ``words/``, how they
were derived and their licence in ``words/README.md``; wordfreq's sources
include OpenSubtitles, so dialogue words are frequent). Sentence length in
words is log-normal (median 6, sigma 0.6, 1-16 words), as subtitle dialogue
is mostly short. The sentence is then punctuated: a capital first letter, a
comma after a word with probability 0.07, and one end mark (``.`` 55 %,
``?`` 25 %, ``!`` 12 %, ``...`` 8 %) in each language's convention
(Spanish opening ``¿`` / ``¡``; Greek question mark ``;``; French
no-break space before ``? !``); English ``i`` becomes ``I``; French and
Italian elisions that wordfreq splits off (``l``, ``qu`` ...) are joined to
a following vowel-initial word (``l'homme``) or dropped. Still word salad:
no grammar, no bigram statistics, German nouns lower-case (wordfreq
case-folds).

Version 1 (the ``legacy`` preset): :func:`sample_sentence`, small word
lists in six Latin-script languages drawn Zipf-like (rank ``r`` with weight
``1 / (r + 2)``), wrapped at 40 characters, at most two lines.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

WORDS: dict[str, tuple[str, ...]] = {
    "en": tuple("""the you to and it of that is in what we me this he for my on have your do no
        be not can know was with just all but so are like get here there they come right now go
        want one out about think how will well yeah got see up okay look did time tell good why
        never let love need man mean sure thing really back take little again sorry going people
        maybe nothing tonight something listen remember house morning father mother money trust
        believe always together tomorrow everything somebody understand wait door night home""".split()),
    "fr": tuple("""de je est pas le vous la tu que un il et à a ne les ce en on ça une ai pour des
        moi qui nous mais y me dans du bien elle si tout plus non mon suis te avec au va oui toi
        fait ils as être faire se comme était sur quoi ici rien lui ai là temps peut dit veux
        père mère maison demain toujours jamais écoute désolé très où été déjà après""".split()),
    "es": tuple("""de que no a la el es y en lo un por qué me una te los se con para mi está si
        bien pero yo eso las sí su tu aquí del al como le más esto ya todo esta vamos muy hay
        ahora algo estoy tengo nada cuando así él ella sé puedo quiero señor mañana niño años
        también después siempre corazón canción pequeño dónde están había""".split()),
    "de": tuple("""ich sie das ist du nicht die und es der wir was zu ein er in mir mit ja wie
        den auf mich dass so hier eine wenn hat sein ihr noch nur schon mal kann aber dich bin
        gut da habe jetzt weiß doch für nein muss vielleicht würde können müssen hören später
        über früher schön Mädchen Straße Grüße natürlich wirklich zurück""".split()),
    "it": tuple("""non di che è e la il un a per in mi sono ho ma l una si cosa le con ti lo mi
        no questo bene se io qui hai sei come del tu mio ci da te va più perché solo niente
        tutto stato anche dove fatto così già può città però cioè lunedì sarà""".split()),
    "pt": tuple("""que não o de a é e um eu você para se me uma com isso do da em os está no na
        mas ele por como bem aqui sim mais meu vai tem só agora foi estou ela quando então
        fazer também já coração não irmão mãe pai amanhã está você obrigado até lá""".split()),
}
LANGUAGE_WEIGHTS = {"en": 0.45, "fr": 0.12, "es": 0.13, "de": 0.1, "it": 0.1, "pt": 0.1}
MAX_LINE_CHARS = 40
_END = (".", ".", ".", ".", "?", "?", "!", "...")


def sample_sentence(rng: np.random.Generator, language: str | None = None) -> tuple[str, str]:
    """``(language, text)``: one or two subtitle lines joined by ``\\n``."""
    if language is None:
        langs = list(LANGUAGE_WEIGHTS)
        p = np.array([LANGUAGE_WEIGHTS[k] for k in langs])
        language = langs[int(rng.choice(len(langs), p=p / p.sum()))]
    words = WORDS[language]
    weights = 1.0 / (np.arange(len(words)) + 2.0)
    weights /= weights.sum()
    n = int(np.clip(rng.lognormal(np.log(6.5), 0.5), 1, 14))
    picked = [words[int(i)] for i in rng.choice(len(words), size=n, p=weights)]
    picked[0] = picked[0][:1].upper() + picked[0][1:]
    if n > 5 and rng.random() < 0.3:
        k = int(rng.integers(2, n - 1))
        picked[k] = picked[k] + ","
    text = " ".join(picked) + _END[int(rng.integers(len(_END)))]
    if rng.random() < 0.1:
        text = "- " + text
    return language, "\n".join(_wrap(text))


def _wrap(text: str) -> list[str]:
    """Greedy wrap at ``MAX_LINE_CHARS``; longer texts are cut to two lines."""
    lines, cur = [], ""
    for word in text.split(" "):
        if cur and len(cur) + 1 + len(word) > MAX_LINE_CHARS:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    lines.append(cur)
    return lines[:2]


# ---------------------------------------------------------------- version 2: frequency tables

DIALOGUE_LANGUAGES = {"en": 0.35, "es": 0.12, "fr": 0.1, "de": 0.1, "ru": 0.1, "it": 0.08, "pt": 0.08, "el": 0.07}
_ELIDED = {"fr": {"l", "d", "j", "n", "s", "c", "qu", "m", "t"},
           "it": {"l", "d", "c", "un", "dell", "all", "nell", "dall", "sull"}}
_VOWELS = set("aeiouyhàâäéèêëîïôöùûüœæáíóú")
_DIALOGUE_END = (".", "?", "!", "...")
_DIALOGUE_END_P = (0.55, 0.25, 0.12, 0.08)


@functools.lru_cache(maxsize=None)
def word_table(language: str) -> tuple[tuple[str, ...], np.ndarray]:
    """``(words, probabilities)`` of ``words/<language>.tsv``, most frequent first;
    ``p ~ 10 ** zipf`` normalised over the table."""
    path = Path(__file__).parent / "words" / f"{language}.tsv"
    rows = [ln.split("\t") for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    zipf = np.array([float(z) for _, z in rows])
    p = 10.0 ** (zipf - zipf.max())
    return tuple(w for w, _ in rows), p / p.sum()


def sample_language(rng: np.random.Generator) -> str:
    """One language of :data:`DIALOGUE_LANGUAGES` by its weight."""
    langs = list(DIALOGUE_LANGUAGES)
    p = np.array([DIALOGUE_LANGUAGES[k] for k in langs])
    return langs[int(rng.choice(len(langs), p=p / p.sum()))]


def sample_dialogue_sentence(rng: np.random.Generator, language: str) -> str:
    """One punctuated sentence (no line breaks) in ``language``; see the module docstring."""
    words, p = word_table(language)
    n = int(np.clip(round(rng.lognormal(np.log(6.0), 0.6)), 1, 16))
    picked = [words[int(i)] for i in rng.choice(len(words), size=n + 1, p=p)]  # one spare for a dropped elision
    elided = _ELIDED.get(language, set())
    out: list[str] = []
    for k, w in enumerate(picked):
        if out and out[-1].endswith("'"):
            out[-1] += w
            continue
        if w in elided:
            nxt = picked[k + 1] if k + 1 < len(picked) else ""
            if nxt[:1] in _VOWELS and nxt not in elided:
                out.append(w + "'")
            continue
        if language == "en" and (w == "i" or w.startswith("i'")):
            w = "I" + w[1:]
        out.append(w)
        if len(out) == n:
            break
    out = out[:n] or [words[0]]
    for k in range(len(out) - 1):
        if rng.random() < 0.07:
            out[k] += ","
    out[0] = out[0][:1].upper() + out[0][1:]
    end = _DIALOGUE_END[int(rng.choice(len(_DIALOGUE_END), p=_DIALOGUE_END_P))]
    text = " ".join(out)
    if language == "es" and end in "?!":
        text = ("\u00bf" if end == "?" else "\u00a1") + text
    elif language == "el" and end == "?":
        end = ";"
    elif language == "fr" and end in "?!":
        end = "\u00a0" + end
    return text + end
