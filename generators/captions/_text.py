"""Offline subtitle text: small word lists in six Latin-script languages and a
sentence sampler with subtitle-like statistics.

Subtitle conventions (e.g. the BBC and Netflix timed-text style guides): at
most two lines, about 37-42 characters per line, 1-4 s on screen; sentences
are short (median around 7 words), start with a capital, end with
punctuation, and dialogue lines sometimes start with a dash. Words are drawn
Zipf-like (rank ``r`` with weight ``1 / (r + 2)``) from frequency-ordered
lists, so short function words dominate as in real text. Accented letters
(é, ñ, ü, ç, ã, à ...) come with the languages.
"""

from __future__ import annotations

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
